package sandbox

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Methods a Limit enforces its bound with.
const (
	// MethodCgroupV2 is a pids cgroup on the unified (v2) hierarchy.
	MethodCgroupV2 = "cgroup v2"
	// MethodCgroupV1 is a cgroup in the v1 pids hierarchy.
	MethodCgroupV1 = "cgroup v1"
	// MethodRlimit is RLIMIT_NPROC, set by prlimit(1) before the command
	// runs. The kernel counts every process of the same real user, the
	// portal's own threads included, and does not enforce it at all for
	// root.
	MethodRlimit = "rlimit"
	// MethodNone: neither a writable cgroup nor prlimit(1); no bound.
	MethodNone = "none"
)

// cgroupPrefix starts the name of every cgroup this package creates, so
// Sweep finds those a crash left behind.
const cgroupPrefix = "slipway-"

// killWait bounds how long Close keeps killing what is left in a cgroup.
const killWait = 5 * time.Second

// Limit bounds the number of tasks (processes and threads) one run may
// have at once. Make one per run with NewLimit, start the run's command
// line through Wrap (or Add a started process), and Close it when the run
// is over. A run that hits the bound sees fork fail with EAGAIN
// ("Resource temporarily unavailable"); Hit reports it afterwards where
// the method can tell.
type Limit struct {
	max     int
	method  string
	dir     string // the cgroup, for the cgroup methods
	prlimit string // path of prlimit(1), for MethodRlimit
}

// NewLimit makes a bound of max tasks for one run; name (letters, digits,
// dashes) appears in the cgroup's name to tell runs apart. It prefers a
// pids cgroup (v2, then v1) under the portal's own cgroup, created now
// and removed by Close, and falls back to RLIMIT_NPROC through prlimit(1)
// when no cgroup is writable, then to no bound at all; Method and Notice
// say which. It fails only for a max below 1.
func NewLimit(name string, max int) (*Limit, error) {
	if max < 1 {
		return nil, fmt.Errorf("sandbox: process limit %d: must be at least 1", max)
	}
	name = cgroupPrefix + safeName(name) + "-" + randomSuffix()
	l := &Limit{max: max}
	if dir, err := newCgroupV2(name, max); err == nil {
		l.method, l.dir = MethodCgroupV2, dir
		return l, nil
	}
	if dir, err := newCgroupV1(name, max); err == nil {
		l.method, l.dir = MethodCgroupV1, dir
		return l, nil
	}
	if p, err := exec.LookPath("prlimit"); err == nil {
		l.method, l.prlimit = MethodRlimit, p
		return l, nil
	}
	l.method = MethodNone
	return l, nil
}

// Max is the bound.
func (l *Limit) Max() int { return l.max }

// Method is how the bound is enforced: MethodCgroupV2, MethodCgroupV1,
// MethodRlimit or MethodNone.
func (l *Limit) Method() string { return l.method }

// Notice says, for a log, when the bound is weaker than a cgroup: empty
// for the cgroup methods.
func (l *Limit) Notice() string {
	switch l.method {
	case MethodRlimit:
		if os.Geteuid() == 0 {
			return fmt.Sprintf("no writable pids cgroup: the limit of %d processes is set as RLIMIT_NPROC, which the kernel does not enforce for root — this run's processes are not bounded", l.max)
		}
		return fmt.Sprintf("no writable pids cgroup: the limit of %d processes is set as RLIMIT_NPROC, which counts every process of this user", l.max)
	case MethodNone:
		return fmt.Sprintf("no writable pids cgroup and no prlimit: the limit of %d processes is not enforced", l.max)
	}
	return ""
}

// Wrap returns a command line that enters the bound and then executes
// argv, so that the very first process — and so everything it starts — is
// inside it, with no window in which a fork escapes. For a cgroup it is
// /bin/sh writing its own pid into the cgroup, then exec; for
// MethodRlimit, prlimit(1). A run whose shell cannot join the cgroup
// exits 125 with a message on stderr rather than running unbounded.
func (l *Limit) Wrap(argv []string) []string {
	switch l.method {
	case MethodCgroupV1, MethodCgroupV2:
		script := `echo $$ >"$0" || { echo "sandbox: cannot join the process-limit cgroup" >&2; exit 125; }; exec "$@"`
		return append([]string{"/bin/sh", "-c", script, filepath.Join(l.dir, "cgroup.procs")}, argv...)
	case MethodRlimit:
		n := strconv.Itoa(l.max)
		return append([]string{l.prlimit, "--nproc=" + n + ":" + n, "--"}, argv...)
	}
	return argv
}

// Add puts a started process under the bound. Prefer Wrap: processes pid
// started before Add stay outside a v1 cgroup. For MethodRlimit it sets
// the process's RLIMIT_NPROC; for MethodNone it does nothing.
func (l *Limit) Add(pid int) error {
	switch l.method {
	case MethodCgroupV1, MethodCgroupV2:
		return os.WriteFile(filepath.Join(l.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
	case MethodRlimit:
		lim := &unix.Rlimit{Cur: uint64(l.max), Max: uint64(l.max)}
		return unix.Prlimit(pid, unix.RLIMIT_NPROC, lim, nil)
	}
	return nil
}

// Hit reports whether a fork was refused because of the bound. Only the
// cgroup methods can tell (pids.events); the others always say false.
func (l *Limit) Hit() bool {
	if l.dir == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(l.dir, "pids.events"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "max" {
			n, _ := strconv.Atoi(f[1])
			return n > 0
		}
	}
	return false
}

// Close kills whatever is still in the cgroup and removes it. It is safe
// to call more than once, and does nothing for the other methods. An
// error means the cgroup could not be removed within a few seconds (a
// process in uninterruptible sleep); Sweep removes it later.
func (l *Limit) Close() error {
	if l.dir == "" {
		return nil
	}
	dir := l.dir
	if err := killCgroup(dir, l.method); err != nil {
		return err
	}
	deadline := time.Now().Add(killWait)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			l.dir = ""
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox: remove cgroup %s: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killCgroup SIGKILLs every task of the cgroup until none is left. v2's
// cgroup.kill does it atomically; otherwise tasks are killed one by one,
// round after round, which also ends a fork bomb: it cannot grow past
// pids.max while its members die.
func killCgroup(dir, method string) error {
	if method == MethodCgroupV2 {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	}
	deadline := time.Now().Add(killWait)
	for {
		pids, err := cgroupPids(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sandbox: read cgroup %s: %w", dir, err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox: %d processes still in cgroup %s after SIGKILL", len(pids), dir)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cgroupPids(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Sweep removes the empty cgroups this package made that a crash left
// behind (a portal killed with -9 never ran Close), under the portal's own
// cgroup in both hierarchies. It never kills: a cgroup with processes
// belongs to a run that is still going (another portal process, or an app
// instance meant to outlive a restart) and is kept. It returns how many it
// removed.
func Sweep() int {
	n := 0
	for _, parent := range []string{cgroupV2Parent(), cgroupV1Parent()} {
		if parent == "" {
			continue
		}
		dirs, _ := filepath.Glob(filepath.Join(parent, cgroupPrefix+"*"))
		for _, d := range dirs {
			if syscall.Rmdir(d) == nil {
				n++
			}
		}
	}
	return n
}

func newCgroupV2(name string, max int) (string, error) {
	parent := cgroupV2Parent()
	if parent == "" {
		return "", errors.New("no cgroup v2 hierarchy")
	}
	ctrl, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
	if err != nil || !hasWord(string(ctrl), "pids") {
		return "", errors.New("pids controller not available in cgroup v2")
	}
	sub, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if !hasWord(string(sub), "pids") {
		// Fails when the parent holds processes itself and is not the
		// root (the no-internal-processes rule): then v2 is not usable
		// here without moving the portal, which is not ours to do.
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+pids"), 0); err != nil {
			return "", err
		}
	}
	return makeCgroup(filepath.Join(parent, name), max)
}

func newCgroupV1(name string, max int) (string, error) {
	parent := cgroupV1Parent()
	if parent == "" {
		return "", errors.New("no cgroup v1 pids hierarchy")
	}
	return makeCgroup(filepath.Join(parent, name), max)
}

func makeCgroup(dir string, max int) (string, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(max)), 0); err != nil {
		_ = syscall.Rmdir(dir)
		return "", err
	}
	return dir, nil
}

// cgroupV2Parent is the directory of the portal's own cgroup on the
// unified hierarchy, or "" when there is none.
func cgroupV2Parent() string {
	return cgroupDir("cgroup2", "", func(controllers string) bool { return controllers == "" })
}

// cgroupV1Parent is the directory of the portal's own cgroup in the v1
// pids hierarchy, or "" when there is none.
func cgroupV1Parent() string {
	return cgroupDir("cgroup", "pids", func(controllers string) bool { return hasList(controllers, "pids") })
}

// cgroupDir finds the mount of a hierarchy (fstype, and for v1 the
// controller among its super options) in /proc/self/mountinfo and the
// process's own path in it from /proc/self/cgroup.
func cgroupDir(fstype, controller string, match func(string) bool) string {
	own := ""
	found := false
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if (fstype == "cgroup2" && parts[0] == "0" && match(parts[1])) || (fstype == "cgroup" && match(parts[1])) {
			own, found = parts[2], true
			break
		}
	}
	if !found {
		return ""
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
		left, right, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		lf, rf := strings.Fields(left), strings.Fields(right)
		if len(lf) < 5 || len(rf) < 3 || rf[0] != fstype {
			continue
		}
		if controller != "" && !hasList(rf[2], controller) {
			continue
		}
		root, mnt := unescape(lf[3]), unescape(lf[4])
		rel, ok := strings.CutPrefix(own, root)
		if !ok {
			continue
		}
		dir := filepath.Join(mnt, rel)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir
		}
	}
	return ""
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

func hasList(s, w string) bool {
	for _, f := range strings.Split(s, ",") {
		if f == w {
			return true
		}
	}
	return false
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

func safeName(s string) string {
	s = unsafeName.ReplaceAllString(s, "-")
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
