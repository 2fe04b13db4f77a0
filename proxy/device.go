package proxy

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"
)

// DeferredDevice is a tun.Device whose packets go to a device attached
// later. The data path needs its device before the call is placed, but the
// user-space stack can only be created once IPCP has assigned the tunnel
// address; the data path gets a DeferredDevice at the start and the stack
// is attached when IPCP comes up.
//
// Until a device is attached, Read blocks and Write drops what it is given
// (nothing can be routed before IPCP is up anyway).
type DeferredDevice struct {
	mtu    int
	events chan tun.Event

	mu     sync.Mutex
	dev    tun.Device
	closed bool
	// changed is closed, and replaced, whenever dev or closed changes:
	// it wakes readers waiting for a device.
	changed chan struct{}
}

// NewDeferredDevice returns a device with nothing attached; mtu is what
// MTU reports until a device is attached.
func NewDeferredDevice(mtu int) *DeferredDevice {
	return &DeferredDevice{mtu: mtu, events: make(chan tun.Event, 4), changed: make(chan struct{})}
}

// errDeviceClosed is returned by Attach after Close.
var errDeviceClosed = errors.New("proxy: deferred device closed")

// Attach makes dev the device packets go to and come from, closing the
// one attached before, if any (a renegotiated IPCP that changed the
// address needs a new stack). Attach(nil) detaches. After Close, Attach
// closes dev and fails.
func (d *DeferredDevice) Attach(dev tun.Device) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		if dev != nil {
			dev.Close()
		}
		return errDeviceClosed
	}
	old := d.dev
	d.dev = dev
	close(d.changed)
	d.changed = make(chan struct{})
	if dev != nil {
		select {
		case d.events <- tun.EventUp:
		default: // nobody reads events: do not block
		}
	}
	d.mu.Unlock()
	if old != nil && old != dev {
		closeDraining(old)
	}
	return nil
}

func (d *DeferredDevice) current() (dev tun.Device, changed <-chan struct{}, closed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dev, d.changed, d.closed
}

// Read reads from the attached device, waiting for one if need be.
func (d *DeferredDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for {
		dev, changed, closed := d.current()
		if closed {
			return 0, os.ErrClosed
		}
		if dev == nil {
			<-changed
			continue
		}
		n, err := dev.Read(bufs, sizes, offset)
		if n > 0 || err == nil {
			return n, err
		}
		// Attach closes the device it replaces, which ends this read
		// with an error that is not ours to report: read from the new
		// one.
		if cur, _, closed := d.current(); closed || cur != dev {
			continue
		}
		return n, err
	}
}

// Write writes to the attached device, or drops the packets when there is
// none.
func (d *DeferredDevice) Write(bufs [][]byte, offset int) (int, error) {
	dev, _, closed := d.current()
	if closed {
		return 0, os.ErrClosed
	}
	if dev == nil {
		return len(bufs), nil
	}
	return dev.Write(bufs, offset)
}

// MTU reports the attached device's MTU, or the one given to
// NewDeferredDevice.
func (d *DeferredDevice) MTU() (int, error) {
	if dev, _, _ := d.current(); dev != nil {
		return dev.MTU()
	}
	return d.mtu, nil
}

// Name returns the attached device's name, or "deferred".
func (d *DeferredDevice) Name() (string, error) {
	if dev, _, _ := d.current(); dev != nil {
		return dev.Name()
	}
	return "deferred", nil
}

// File returns nil: there is no kernel device.
func (d *DeferredDevice) File() *os.File { return nil }

// Events reports EventUp each time a device is attached; it is closed by
// Close.
func (d *DeferredDevice) Events() <-chan tun.Event { return d.events }

// BatchSize is 1, whatever is attached later: it must not change over the
// device's life, and the user-space stack moves one packet at a time.
func (d *DeferredDevice) BatchSize() int { return 1 }

// Close closes the attached device and ends blocked reads.
func (d *DeferredDevice) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	dev := d.dev
	d.dev = nil
	close(d.changed)
	close(d.events)
	d.mu.Unlock()
	if dev != nil {
		return closeDraining(dev)
	}
	return nil
}

// closeDraining closes dev while reading and discarding its packets.
//
// wireguard's netstack device hands each outgoing packet over on an
// unbuffered channel, which its Close closes: a packet nobody reads (the
// data path has stopped reading by the time it closes its device) blocks
// the stack, and a packet being handed over while Close runs panics with
// "send on closed channel" (WireGuard/wireguard-go#85, unfixed upstream).
// So the packets are drained, and Close waits until the stack has been
// quiet for a moment (sockets closing flush their last segments), which
// leaves only a packet sent in the microseconds Close itself takes.
// dev's reads must end when it is closed.
func closeDraining(dev tun.Device) error {
	const (
		quiet   = 20 * time.Millisecond
		maxWait = 500 * time.Millisecond
	)
	var last atomic.Int64 // time of the last packet, in UnixNano
	start := time.Now()
	last.Store(start.UnixNano())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := max(dev.BatchSize(), 1)
		bufs := make([][]byte, n)
		for i := range bufs {
			bufs[i] = make([]byte, 65535)
		}
		sizes := make([]int, n)
		for {
			if _, err := dev.Read(bufs, sizes, 0); err != nil {
				return
			}
			last.Store(time.Now().UnixNano())
		}
	}()
	for time.Since(start) < maxWait && time.Since(time.Unix(0, last.Load())) < quiet {
		time.Sleep(quiet / 4)
	}
	err := dev.Close()
	<-done
	return err
}
