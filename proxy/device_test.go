package proxy

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"
)

// chanDevice is a tun.Device fed by a channel, recording what is written.
type chanDevice struct {
	in      chan []byte
	mu      sync.Mutex
	written [][]byte
	closed  chan struct{}
	once    sync.Once
}

func newChanDevice() *chanDevice {
	return &chanDevice{in: make(chan []byte), closed: make(chan struct{})}
}

func (d *chanDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case p := <-d.in:
		sizes[0] = copy(bufs[0][offset:], p)
		return 1, nil
	case <-d.closed:
		return 0, os.ErrClosed
	}
}

func (d *chanDevice) Write(bufs [][]byte, offset int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range bufs {
		d.written = append(d.written, append([]byte(nil), b[offset:]...))
	}
	return len(bufs), nil
}

func (d *chanDevice) isClosed() bool {
	select {
	case <-d.closed:
		return true
	default:
		return false
	}
}

func (d *chanDevice) File() *os.File           { return nil }
func (d *chanDevice) MTU() (int, error)        { return 1280, nil }
func (d *chanDevice) Name() (string, error)    { return "chan", nil }
func (d *chanDevice) Events() <-chan tun.Event { return nil }
func (d *chanDevice) BatchSize() int           { return 1 }
func (d *chanDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

func TestDeferredDevice(t *testing.T) {
	checkGoroutines(t)
	d := NewDeferredDevice(1400)
	if mtu, _ := d.MTU(); mtu != 1400 {
		t.Errorf("MTU %d before attach", mtu)
	}
	// Before a device is attached, writes vanish and reads wait.
	if n, err := d.Write([][]byte{make([]byte, 4+20)}, 4); n != 1 || err != nil {
		t.Fatalf("Write before attach: %d, %v", n, err)
	}
	type result struct {
		pkt []byte
		err error
	}
	reads := make(chan result)
	read := func() {
		buf := [][]byte{make([]byte, 100)}
		sizes := []int{0}
		n, err := d.Read(buf, sizes, 8)
		if n == 1 {
			reads <- result{pkt: buf[0][8 : 8+sizes[0]]}
			return
		}
		reads <- result{err: err}
	}
	go read()
	select {
	case r := <-reads:
		t.Fatalf("Read returned %v before attach", r)
	case <-time.After(50 * time.Millisecond):
	}

	first := newChanDevice()
	if err := d.Attach(first); err != nil {
		t.Fatal(err)
	}
	if ev := <-d.Events(); ev != tun.EventUp {
		t.Errorf("event %v, want EventUp", ev)
	}
	if mtu, _ := d.MTU(); mtu != 1280 {
		t.Errorf("MTU %d, want the attached device's", mtu)
	}
	first.in <- []byte("one")
	if r := <-reads; string(r.pkt) != "one" {
		t.Fatalf("read %q, %v", r.pkt, r.err)
	}
	d.Write([][]byte{[]byte("xxxxout")}, 4)
	if len(first.written) != 1 || string(first.written[0]) != "out" {
		t.Fatalf("written %q", first.written)
	}

	// Replacing the device closes the old one, and a read blocked on it
	// carries on with the new one instead of failing.
	go read()
	time.Sleep(20 * time.Millisecond)
	second := newChanDevice()
	d.Attach(second)
	if !first.isClosed() {
		t.Error("replaced device left open")
	}
	second.in <- []byte("two")
	if r := <-reads; string(r.pkt) != "two" {
		t.Fatalf("read %q, %v", r.pkt, r.err)
	}

	// Close ends a blocked read, closes the device, and Attach fails.
	go read()
	time.Sleep(20 * time.Millisecond)
	d.Close()
	if r := <-reads; !errors.Is(r.err, os.ErrClosed) {
		t.Fatalf("read after Close: %v", r.err)
	}
	if !second.isClosed() {
		t.Error("Close left the device open")
	}
	third := newChanDevice()
	if err := d.Attach(third); err == nil || !third.isClosed() {
		t.Errorf("Attach after Close: %v, device closed %v", err, third.isClosed())
	}
	if _, err := d.Write([][]byte{{0x45}}, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	// The second attach's EventUp, then the end.
	if ev, ok := <-d.Events(); !ok || ev != tun.EventUp {
		t.Errorf("event %v, %v", ev, ok)
	}
	if _, ok := <-d.Events(); ok {
		t.Error("events channel open after Close")
	}
}

// TestDeferredDeviceCloseUnread closes a user-space stack that has a
// packet nobody reads (the data path has stopped reading when it closes
// its device): wireguard's netstack then deadlocks or panics with "send on
// closed channel" unless the close drains it.
func TestDeferredDeviceCloseUnread(t *testing.T) {
	checkGoroutines(t)
	d := NewDeferredDevice(testMTU)
	dev, nw, err := NewNetstack(stackA, nil, testMTU)
	if err != nil {
		t.Fatal(err)
	}
	d.Attach(dev)
	pc, err := nw.ListenPacket(context.Background(), "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for range 3 {
			pc.WriteTo([]byte("unread"), &net.UDPAddr{IP: net.IPv4(10, 8, 0, 2), Port: 9})
		}
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		d.Close()
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close deadlocked on an unread packet")
	}
	<-sent
}
