package daemon

import (
	"context"
	"fmt"

	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/health"
)

// FILE_CHECK: the real servers following a track file change state as
// soon as the file changes (inotify), without retries, as in keepalived.

// fileEvent reads c's track file and returns the verdict as a checker
// event with the given id.
func fileEvent(id int, c *config.Check) health.Event {
	fc := c.File
	v, ok := health.ReadTrackFile(fc.File.Path)
	if !ok {
		v = 0 // keepalived starts from 0 and ignores a number out of range
	}
	up, off := health.FileStatus(v, fc)
	ev := health.Event{ID: id, Up: up, Weight: -1, Offset: off}
	if !up {
		ev.Err = fmt.Errorf("track_file %s (%s) holds %d (weight %d)", fc.File.Name, fc.File.Path, v, fc.Weight)
	}
	return ev
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// watchTrackFiles follows the files of h's FILE_CHECKs until ctx ends.
func (d *Daemon) watchTrackFiles(ctx context.Context, h *healthState) {
	seen := map[string]bool{}
	var paths []string
	for _, rh := range h.order {
		for _, cs := range rh.checks {
			if cs.conf.Kind == config.CheckFile && !seen[cs.conf.File.File.Path] {
				seen[cs.conf.File.File.Path] = true
				paths = append(paths, cs.conf.File.File.Path)
			}
		}
	}
	if len(paths) == 0 {
		return
	}
	changed := func(path string) {
		v, ok := health.ReadTrackFile(path)
		if !ok {
			d.log.Warn("track file holds a number out of range; ignored", "file", path, "value", v)
			return
		}
		for _, rh := range h.order {
			for i, cs := range rh.checks {
				if cs.conf.Kind == config.CheckFile && cs.conf.File.File.Path == path {
					d.onCheck(h, rh, fileEvent(i, cs.conf))
				}
			}
		}
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		// A change between newHealth's read and the watch is caught by
		// reading every file once the watch is in place.
		err := health.WatchFiles(ctx, paths, changed, func() {
			for _, p := range paths {
				changed(p)
			}
		})
		if err != nil {
			d.log.Error("track files not followed; their FILE_CHECKs keep the state read at start", "err", err)
		}
	}()
}
