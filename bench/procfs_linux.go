package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// cpuTimes are one CPU's /proc/stat counters in clock ticks.
type cpuTimes struct{ busy, softirq, total uint64 }

// readCPUTimes returns the per-CPU lines of /proc/stat (cpu0, cpu1, ...).
func readCPUTimes() ([]cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	var out []cpuTimes
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var t cpuTimes
		for i, s := range f[1:] {
			if i >= 8 { // guest time is already inside user
				break
			}
			v, _ := strconv.ParseUint(s, 10, 64)
			t.total += v
			switch i {
			case 3, 4: // idle, iowait
			case 6:
				t.softirq += v
				t.busy += v
			default:
				t.busy += v
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// cpuShares turns two readings into busy and softirq percentages per CPU.
func cpuShares(a, b []cpuTimes) (busy, softirq []float64) {
	for i := range min(len(a), len(b)) {
		tot := float64(b[i].total - a[i].total)
		if tot <= 0 {
			busy, softirq = append(busy, 0), append(softirq, 0)
			continue
		}
		busy = append(busy, 100*float64(b[i].busy-a[i].busy)/tot)
		softirq = append(softirq, 100*float64(b[i].softirq-a[i].softirq)/tot)
	}
	return busy, softirq
}

// processCPU sums the on-CPU time (schedstat, nanoseconds) of every thread
// of process pid.
func processCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("bench: no threads for pid %d", pid)
	}
	var sum time.Duration
	for _, t := range tasks {
		d, err := schedstat(t)
		if err == nil { // a thread may exit between glob and read
			sum += d
		}
	}
	return sum, nil
}

// threadCPUOf is the on-CPU time of one thread of this process.
func threadCPUOf(tid int) (time.Duration, error) {
	return schedstat(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
}

func schedstat(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("bench: empty %s", path)
	}
	v, err := strconv.ParseUint(f[0], 10, 64)
	return time.Duration(v), err
}

// linkStats are an interface's packet counters.
type linkStats struct{ rxPackets, txPackets, txDropped uint64 }

// readLinkStats reads dev's counters from /proc/net/dev as the namespace
// sees it (a thread's /proc/thread-self/net follows its namespace).
func readLinkStats(ns *netns.NS, dev string) (linkStats, error) {
	var s linkStats
	err := ns.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, rest, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(name) != dev {
				continue
			}
			f := strings.Fields(rest)
			if len(f) < 12 {
				return fmt.Errorf("bench: short /proc/net/dev line for %s", dev)
			}
			s.rxPackets, _ = strconv.ParseUint(f[1], 10, 64)
			s.txPackets, _ = strconv.ParseUint(f[9], 10, 64)
			s.txDropped, _ = strconv.ParseUint(f[11], 10, 64)
			return nil
		}
		return fmt.Errorf("bench: %s not in /proc/net/dev of %s", dev, ns.Name)
	})
	return s, err
}

func hostInfo() Host {
	var h Host
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			h.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}
