package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/gopptp/gopptp/internal/netcfg"
)

// pinState records the host routes that keep the server outside the
// tunnel (the "pins") in a state file next to the resolv.conf backup.
// Unlike the routes through the TUN device, a pin goes through eth0 or
// wlan0 and outlives a client that is killed; without a record the next
// client would find it in place (EEXIST), leave it, and it would stay for
// good, still pointing at the old gateway after a move from Wi-Fi to
// Ethernet. The next client to start with the same link name removes what
// a dead one recorded.
type pinState struct {
	path string
	link string // for the file, and the log of the next client
	log  *slog.Logger

	mu sync.Mutex
	// pins are the routes in place now, as the file has them.
	pins []pinRecord
	// owned is set once the file is ours to rewrite.
	owned bool
}

// pinFile is the state file's content.
type pinFile struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start_time"` // the owner's start time in clock ticks since boot
	Boot  string `json:"boot_id"`
	// NetNS is the owner's network namespace: the routes are there, and
	// only a client in the same one can remove them.
	NetNS string      `json:"netns"`
	Link  string      `json:"link"`
	Pins  []pinRecord `json:"pins"`
}

// pinRecord is one host route, as netcfg.AddHostRouteVia added it.
type pinRecord struct {
	Dst netip.Addr `json:"dst"`
	Dev string     `json:"dev"`
	Via netip.Addr `json:"via"` // invalid on a local subnet
}

// maxPinFile bounds what is read of a state file: a real one is a few
// hundred bytes, and a huge one is no state of ours.
const maxPinFile = 64 << 10

// newPinState returns the state of the link's pins, kept next to the
// resolv.conf backup of resolvConf (default DefaultResolvConf). The link
// name is part of the file's name: clients with different links may run
// at once, each with its own server.
func newPinState(resolvConf, link string, log *slog.Logger) *pinState {
	if resolvConf == "" {
		resolvConf = DefaultResolvConf
	}
	return &pinState{path: resolvConf + ".gopptp-pins-" + safeFileName(link), link: link, log: log}
}

// safeFileName keeps a link name (which the user chooses) from leading
// the file out of its directory or hiding it.
func safeFileName(s string) string {
	if s == "" {
		return "ppp0"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// recoverStale removes the pins a client that died recorded, and the
// file. A file whose owner still runs, or that belongs to another network
// namespace, is left alone.
func (s *pinState) recoverStale() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.read()
	if err != nil || f == nil {
		return err
	}
	if f.NetNS != netNS() || f.alive() {
		return nil
	}
	return s.recoverFrom(f)
}

func (s *pinState) recoverFrom(f *pinFile) error {
	var errs []error
	for _, p := range f.Pins {
		if !p.Dst.IsValid() || p.Dev == "" {
			continue
		}
		s.log.Warn("removing the route to the server left behind by a pptp that did not exit cleanly",
			"dst", p.Dst, "dev", p.Dev, "via", p.Via, "pid", f.PID, "link", f.Link)
		if err := netcfg.DelHostRouteVia(p.Dst, netcfg.Gateway{Dev: p.Dev, Via: p.Via}); err != nil {
			errs = append(errs, err)
		}
	}
	// Removed even when a route could not be: retrying it at every
	// start would not make it go.
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// read returns the file's content, or nil when there is none. What cannot
// be ours (a symbolic link, something not a regular file, bad JSON) is
// removed: nothing in it can be trusted to name routes to delete, and
// keeping it would stop the pins from being recorded for good.
func (s *pinState) read() (*pinFile, error) {
	fd, err := os.OpenFile(s.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, syscall.ELOOP) {
		os.Remove(s.path)
		return nil, fmt.Errorf("%s is a symbolic link (removed)", s.path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	defer fd.Close()
	if st, err := fd.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; not used", s.path)
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxPinFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	var f pinFile
	if len(data) > maxPinFile {
		err = errors.New("too large")
	} else {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		os.Remove(s.path)
		return nil, fmt.Errorf("%s is corrupt (removed): %w", s.path, err)
	}
	return &f, nil
}

// add records p before the route is added: whatever happens next, the
// next client can find it.
func (s *pinState) add(p pinRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.owned {
		f, err := s.read()
		if err != nil {
			s.log.Warn("server route state", "err", err)
		}
		if f != nil && !f.self() {
			if f.alive() {
				return fmt.Errorf("%s belongs to another pptp (pid %d, link %s); the route to the server is not recorded", s.path, f.PID, f.Link)
			}
			if f.NetNS == netNS() {
				if err := s.recoverFrom(f); err != nil {
					s.log.Warn("server route state", "err", err)
				}
			}
		}
		s.owned = true
	}
	s.pins = append(s.pins, p)
	if err := s.write(); err != nil {
		s.pins = s.pins[:len(s.pins)-1]
		return err
	}
	return nil
}

// remove forgets p once its route is gone, and the file with the last one.
func (s *pinState) remove(p pinRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.pins, p)
	if i < 0 || !s.owned {
		return nil
	}
	s.pins = slices.Delete(s.pins, i, i+1)
	if len(s.pins) > 0 {
		return s.write()
	}
	s.owned = false
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *pinState) write() error {
	id, err := selfIdentity()
	if err != nil {
		return err
	}
	f := pinFile{PID: id.PID, Start: id.Start, Boot: id.Boot, NetNS: netNS(), Link: s.link, Pins: s.pins}
	data, err := json.Marshal(&f)
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, data, 0o600); err != nil {
		return fmt.Errorf("recording the route to the server: %w", err)
	}
	return nil
}

// self reports whether this process wrote the file.
func (f *pinFile) self() bool {
	id, err := selfIdentity()
	return err == nil && f.PID == id.PID && f.Start == id.Start && f.Boot == id.Boot
}

// alive reports whether the process that wrote the file still runs.
func (f *pinFile) alive() bool {
	b := resolvBackup{PID: f.PID, Start: f.Start, Boot: f.Boot}
	return b.alive()
}

// netNS names this process's network namespace ("net:[4026531840]").
func netNS() string {
	ns, _ := os.Readlink("/proc/self/ns/net")
	return ns
}
