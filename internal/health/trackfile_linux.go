package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// trackFileEvents are the inotify events after which a track file is read
// again: written and closed, renamed in or out, removed. Creation alone
// is not one: the file is still empty then.
const trackFileEvents = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE

// WatchFiles calls changed(path) after each change to one of paths, until
// ctx ends. It watches the files' directories (with inotify, as
// keepalived does), so a file that is replaced by a rename or created
// later is followed too. ready (if not nil) is called once the watches
// are in place. It returns at once when a directory cannot be watched.
func WatchFiles(ctx context.Context, paths []string, changed func(path string), ready func()) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	defer f.Close()
	// byDir maps a watch to its files by base name.
	byDir := map[int32]map[string][]string{}
	wds := map[string]int32{}
	for _, p := range paths {
		dir := filepath.Dir(p)
		wd, ok := wds[dir]
		if !ok {
			w, err := unix.InotifyAddWatch(fd, dir, trackFileEvents)
			if err != nil {
				return fmt.Errorf("watching %s for track file %s: %w (create the directory)", dir, p, err)
			}
			wd = int32(w)
			wds[dir], byDir[wd] = wd, map[string][]string{}
		}
		byDir[wd][filepath.Base(p)] = append(byDir[wd][filepath.Base(p)], p)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	if ready != nil {
		ready()
	}
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := f.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading inotify events: %w", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				// Events were lost: read every file again.
				for _, p := range paths {
					changed(p)
				}
				continue
			}
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			for _, p := range byDir[ev.Wd][string(name)] {
				changed(p)
			}
		}
	}
}
