package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultResolvConf is the file usepeerdns rewrites when systemd-resolved
// does not manage DNS.
const DefaultResolvConf = "/etc/resolv.conf"

// DNSConfig says how usepeerdns puts the server's DNS servers to use.
type DNSConfig struct {
	// ResolvConf is the file rewritten (and restored on exit) when
	// Resolved is off; default DefaultResolvConf.
	ResolvConf string
	// Resolved gives the servers to systemd-resolved as the interface's
	// own (per-link DNS) with resolvectl instead of rewriting ResolvConf.
	Resolved bool
	// Resolvectl is the resolvectl program; default "resolvectl" from
	// PATH.
	Resolvectl string
	// PPPResolvConf, when set, also receives the servers in pppd's format
	// (pppd writes /etc/ppp/resolv.conf for the ip-up scripts).
	PPPResolvConf string
}

// ResolvedRunning reports whether systemd-resolved manages the system's
// DNS: /etc/resolv.conf leads into its runtime directory and resolvectl
// is there to talk to it. When resolved runs but /etc/resolv.conf is a
// file of its own, programs read that file, so that is what to change.
func ResolvedRunning() bool {
	return resolvedManages(DefaultResolvConf, "/run/systemd/resolve")
}

func resolvedManages(resolvConf, runDir string) bool {
	if _, err := os.Stat(runDir); err != nil {
		return false
	}
	real, err := filepath.EvalSymlinks(resolvConf)
	if err != nil {
		return false
	}
	if !strings.HasPrefix(real, runDir+"/") {
		return false
	}
	_, err = exec.LookPath("resolvectl")
	return err == nil
}

// dnsApplier puts a session's DNS servers to use and takes them back.
type dnsApplier interface {
	apply(ctx context.Context, servers []netip.Addr) error
	restore(ctx context.Context) error
}

// resolvedDNS sets per-link DNS through systemd-resolved. The settings
// belong to the interface: they vanish with it, also when the client is
// killed.
type resolvedDNS struct {
	bin    string
	ifname string
	// full routes every query to the link (~.): with the default route
	// in the tunnel, asking the local network's servers would leak the
	// names looked up.
	full bool
	log  *slog.Logger
}

func (r *resolvedDNS) run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, r.bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", r.bin, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (r *resolvedDNS) apply(ctx context.Context, servers []netip.Addr) error {
	args := []string{"dns", r.ifname}
	for _, s := range servers {
		args = append(args, s.String())
	}
	if err := r.run(ctx, args...); err != nil {
		return err
	}
	if r.full {
		if err := r.run(ctx, "domain", r.ifname, "~."); err != nil {
			return err
		}
		// Older resolved lacks default-route; ~. alone does the job there.
		if err := r.run(ctx, "default-route", r.ifname, "yes"); err != nil {
			r.log.Debug("resolvectl default-route", "err", err)
		}
	}
	r.log.Info("DNS servers given to systemd-resolved for "+r.ifname, "servers", servers)
	return nil
}

func (r *resolvedDNS) restore(ctx context.Context) error {
	return r.run(ctx, "revert", r.ifname)
}

// resolvConf rewrites a resolv.conf and puts the original back. Before it
// touches the file it saves the original, with its own identity, in a
// backup file next to it; a client that was killed leaves the backup
// behind, and the next one to start restores the original from it.
type resolvConf struct {
	path string
	link string // for the comment in the file and the backup
	log  *slog.Logger
	// applied is the backup of what we changed; nil when nothing is.
	applied *resolvBackup
}

// resolvBackup is the backup file's content.
type resolvBackup struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start_time"` // the owner's start time in clock ticks since boot
	Boot  string `json:"boot_id"`
	Link  string `json:"link"`
	// Existed is false when there was no file to begin with.
	Existed bool `json:"existed"`
	// Symlink is the original's target when it was a symbolic link.
	Symlink  string      `json:"symlink,omitempty"`
	Original []byte      `json:"original,omitempty"`
	Mode     fs.FileMode `json:"mode,omitempty"`
	// Wrote is what we put in its place: the original is restored only
	// over it, never over what someone else wrote since.
	Wrote []byte `json:"wrote"`
}

func newResolvConf(path, link string, log *slog.Logger) *resolvConf {
	if path == "" {
		path = DefaultResolvConf
	}
	return &resolvConf{path: path, link: link, log: log}
}

func (r *resolvConf) backupPath() string { return r.path + ".gopptp-backup" }

// recoverStale restores the original left behind by a client that died
// without restoring it. A backup whose owner still runs is left alone.
func (r *resolvConf) recoverStale() error {
	b, err := r.readBackup()
	if err != nil || b == nil {
		return err
	}
	if b.alive() {
		return nil
	}
	r.log.Warn("restoring "+r.path+" left behind by a pptp that did not exit cleanly", "pid", b.PID, "link", b.Link)
	return r.restoreFrom(b)
}

func (r *resolvConf) readBackup() (*resolvBackup, error) {
	data, err := os.ReadFile(r.backupPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.backupPath(), err)
	}
	var b resolvBackup
	if err := json.Unmarshal(data, &b); err != nil {
		// Nothing trustworthy to restore from; keeping the file would
		// block usepeerdns for good.
		os.Remove(r.backupPath())
		return nil, fmt.Errorf("%s is corrupt (removed): %w", r.backupPath(), err)
	}
	return &b, nil
}

func (r *resolvConf) apply(_ context.Context, servers []netip.Addr) error {
	if r.applied != nil {
		return r.reapply(servers)
	}
	old, err := r.readBackup()
	if err != nil {
		r.log.Warn("usepeerdns", "err", err)
	}
	if old != nil {
		if old.alive() {
			return fmt.Errorf("%s is managed by another pptp (pid %d, link %s); not changed", r.path, old.PID, old.Link)
		}
		if err := r.restoreFrom(old); err != nil {
			return err
		}
	}
	b, err := r.snapshot()
	if err != nil {
		return err
	}
	b.Wrote = resolvContent(servers, b.Original, r.link)
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	// The backup is on disk before the file changes: whatever happens
	// next, the original can be found.
	if err := writeAtomic(r.backupPath(), data, 0o600); err != nil {
		return fmt.Errorf("saving the original %s: %w", r.path, err)
	}
	if err := replaceFile(r.path, b.Wrote, 0o644); err != nil {
		os.Remove(r.backupPath())
		return fmt.Errorf("writing %s: %w", r.path, err)
	}
	r.applied = b
	r.log.Info("DNS servers written to "+r.path, "servers", servers)
	return nil
}

// reapply writes a new server list over the one we applied (a router
// advertisement's IPv6 servers after IPCP's). The original in the backup
// is kept as it is: restoring it first and taking a new snapshot would
// take whatever someone else wrote in between (Debian's ip-up.d
// usepeerdns script, which our ip-up runs) for the original, and the user
// would keep the VPN's servers after exit. The backup learns what we
// write before the file changes, so that a crash in between leaves a
// backup that still restores the original.
func (r *resolvConf) reapply(servers []netip.Addr) error {
	b := *r.applied
	b.Wrote = resolvContent(servers, b.Original, r.link)
	data, err := json.Marshal(&b)
	if err != nil {
		return err
	}
	if err := writeAtomic(r.backupPath(), data, 0o600); err != nil {
		return fmt.Errorf("updating the backup of %s: %w", r.path, err)
	}
	if err := replaceFile(r.path, b.Wrote, 0o644); err != nil {
		// The file may still hold what we wrote before: the backup
		// must match it for the original to be restored at exit.
		if old, err := json.Marshal(r.applied); err == nil {
			writeAtomic(r.backupPath(), old, 0o600)
		}
		return fmt.Errorf("writing %s: %w", r.path, err)
	}
	r.applied = &b
	r.log.Info("DNS servers written to "+r.path, "servers", servers)
	return nil
}

// snapshot describes the file as it is now, owned by this process.
func (r *resolvConf) snapshot() (*resolvBackup, error) {
	b, err := selfIdentity()
	if err != nil {
		return nil, err
	}
	b.Link = r.link
	st, err := os.Lstat(r.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return b, nil
	case err != nil:
		return nil, err
	}
	b.Existed = true
	if st.Mode()&fs.ModeSymlink != 0 {
		if b.Symlink, err = os.Readlink(r.path); err != nil {
			return nil, err
		}
		// The content behind the link gives the lines to keep; a
		// dangling link has none.
		b.Original, _ = os.ReadFile(r.path)
		return b, nil
	}
	b.Mode = st.Mode().Perm()
	if b.Original, err = os.ReadFile(r.path); err != nil {
		return nil, err
	}
	return b, nil
}

func (r *resolvConf) restore(context.Context) error {
	if r.applied == nil {
		return nil
	}
	err := r.restoreFrom(r.applied)
	r.applied = nil
	return err
}

// restoreFrom puts the original back, unless the file changed since we
// wrote it, and removes the backup.
func (r *resolvConf) restoreFrom(b *resolvBackup) error {
	cur, err := os.ReadFile(r.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", r.path, err)
	}
	changed := !bytes.Equal(cur, b.Wrote)
	if !changed {
		switch {
		case b.Symlink != "":
			err = replaceSymlink(r.path, b.Symlink)
		case !b.Existed:
			err = os.Remove(r.path)
		default:
			err = replaceFile(r.path, b.Original, b.Mode)
		}
		if err != nil {
			return fmt.Errorf("restoring %s: %w", r.path, err)
		}
	}
	if err := os.Remove(r.backupPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", r.backupPath(), err)
	}
	if changed {
		r.log.Warn(r.path + " was changed by someone else since pptp wrote it; leaving it as it is")
	} else {
		r.log.Info("restored " + r.path)
	}
	return nil
}

// resolvContent is the resolv.conf we write: the servers, then the
// original's lines that are not nameserver lines (search, options), as
// Debian's pppd scripts merge them.
func resolvContent(servers []netip.Addr, original []byte, link string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by pptp for %s (usepeerdns); the original is restored when the link goes down.\n", link)
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %v\n", s)
	}
	for line := range strings.Lines(string(original)) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "nameserver" {
			continue
		}
		b.WriteString(strings.TrimRight(line, "\n") + "\n")
	}
	return b.Bytes()
}

// writePPPResolvConf writes the servers as pppd writes /etc/ppp/resolv.conf.
func writePPPResolvConf(path string, servers []netip.Addr) error {
	var b strings.Builder
	for _, d := range servers {
		fmt.Fprintf(&b, "nameserver %v\n", d)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// replaceFile replaces path with a file holding data: atomically by
// renaming a temporary file over it, or, where path cannot be replaced (a
// file bind-mounted into a container), by rewriting it in place. A
// symbolic link at path is replaced, not followed.
func replaceFile(path string, data []byte, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	err := writeAtomic(path, data, mode)
	if err == nil || !(errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV)) {
		return err
	}
	return os.WriteFile(path, data, mode)
}

// writeAtomic writes data to a temporary file next to path, syncs it and
// renames it over path.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	syncDir(dir)
	return nil
}

// replaceSymlink makes path a symbolic link to target, atomically.
func replaceSymlink(path, target string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-link-"+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// selfIdentity returns a backup owned by this process. The PID alone could
// be reused by another process after a crash, so the process start time
// and the boot are recorded with it.
func selfIdentity() (*resolvBackup, error) {
	pid := os.Getpid()
	start, err := procStartTime(pid)
	if err != nil {
		return nil, fmt.Errorf("identifying this process: %w", err)
	}
	return &resolvBackup{PID: pid, Start: start, Boot: bootID()}, nil
}

// alive reports whether the process that wrote the backup still runs.
func (b *resolvBackup) alive() bool {
	if b.Boot != bootID() {
		return false
	}
	start, err := procStartTime(b.PID)
	return err == nil && start == b.Start
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// procStartTime returns field 22 of /proc/PID/stat: when the process
// started, in clock ticks after boot.
func procStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself: the fields after it follow the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// After the name come fields 3 (state) onwards; 22 is starttime.
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
