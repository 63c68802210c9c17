package config

import (
	"math"
	"strconv"
	"strings"
)

// TrackFile is a top-level track_file block (vrrp_track_file is
// keepalived's deprecated synonym): a file holding a number that
// FILE_CHECKs of real servers follow.
type TrackFile struct {
	Pos  Pos
	Name string
	Path string
	// Weight (-254..254, default 1) and Reverse are the defaults of the
	// FILE_CHECKs that name this file without a weight of their own.
	Weight  int
	Reverse bool
	// Init is init_file: write InitValue to Path at start-up when the
	// file is missing, or always with Overwrite (never on a reload).
	Init      bool
	InitValue int
	Overwrite bool
}

// FileCheck is the FILE_CHECK specific part of a Check: the file, and the
// weight its value is multiplied by (0: a non-zero value means down).
type FileCheck struct {
	File    *TrackFile
	Weight  int64
	Reverse bool

	weightSet bool
}

// trackFileWeightMax bounds a FILE_CHECK weight (keepalived's
// IPVS_WEIGHT_LIMIT, INT32_MAX).
const trackFileWeightMax = math.MaxInt32

func init() {
	rootTable.add(needBlock, func(d *decoder, n *Node, c *Config) {
		if tf := d.trackFile(n); tf != nil {
			c.TrackFiles = append(c.TrackFiles, tf)
		}
	}, "track_file", "vrrp_track_file")
	// keepalived adds the weighted value to the instance's priority; the
	// VRRP stage of ulvs does not follow files yet, so say so.
	vrrpInstanceTable.add(anyBlock, func(d *decoder, n *Node, s *vrrpState) {
		d.warnf(n, "accepted but ignored: ulvs's VRRP does not follow track files yet (real servers' FILE_CHECK does)")
		s.in.Extra = append(s.in.Extra, n)
	}, "track_file")
	vrrpSyncTable.add(anyBlock, func(d *decoder, n *Node, g *VRRPSyncGroup) {
		d.warnf(n, "accepted but ignored: ulvs's VRRP does not follow track files yet (real servers' FILE_CHECK does)")
		g.Extra = append(g.Extra, n)
	}, "track_file")
}

var trackFileTable = newTable("track_file", func(*TrackFile, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, tf *TrackFile) {
		if !d.args(n, 1, 1, `file "/path/to/file"`) {
			return
		}
		if tf.Path != "" {
			d.errorf(n, "keep one file line", "file already set for track_file %s", tf.Name)
			return
		}
		tf.Path = n.Args[0]
	}, "file").
	add(noBlock, func(d *decoder, n *Node, tf *TrackFile) {
		const usage = "weight N [reverse] (-254..254)"
		if !d.args(n, 1, 2, usage) {
			return
		}
		w, err := parseInt(n.Args[0], -254, 254)
		if err != nil {
			d.errorf(n, "write "+usage, "weight %v", err)
			return
		}
		if len(n.Args) == 2 && n.Args[1] != "reverse" {
			d.errorf(n, "write "+usage, "unknown weight option %q", n.Args[1])
			return
		}
		tf.Weight, tf.Reverse = w, len(n.Args) == 2
	}, "weight").
	add(noBlock, func(d *decoder, n *Node, tf *TrackFile) {
		const usage = "init_file [VALUE] [overwrite]"
		tf.Init, tf.InitValue = true, 0
		for _, a := range n.Args {
			switch {
			case a == "overwrite":
				tf.Overwrite = true
			case a != "" && (a[0] == '-' || a[0] >= '0' && a[0] <= '9'):
				// keepalived reports a value outside -254..254 as an error.
				v, err := strconv.ParseInt(a, 10, 32)
				if err != nil || v < -254 || v > 254 {
					d.errorf(n, "write "+usage+" (VALUE in -254..254)", "init value %q is outside -254..254", a)
					return
				}
				tf.InitValue = int(v)
			default:
				d.errorf(n, "write "+usage, "unknown init_file option %q", a)
				return
			}
		}
	}, "init_file")

// trackFile decodes "track_file NAME { file PATH; weight N [reverse];
// init_file [VALUE] [overwrite] }".
func (d *decoder) trackFile(n *Node) *TrackFile {
	if !d.args(n, 1, 1, "track_file NAME { file /path }") {
		return nil
	}
	tf := &TrackFile{Pos: n.Pos, Name: n.Args[0], Weight: 1}
	// A bad line is reported and the file still registered, so that the
	// FILE_CHECKs naming it do not add "not found" errors of their own.
	decodeBlock(d, trackFileTable, n, tf)
	if tf.Path == "" {
		d.errorf(n, `add file "/path/to/file" to the block`, "no file set for track_file %s", tf.Name)
		return nil
	}
	return tf
}

var fileCheckTable = newTable("FILE_CHECK", func(*FileCheck, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, fc *FileCheck) {
		if d.args(n, 1, 1, "track_file NAME") {
			// Resolved by fileCheck: the name is kept in a dummy file.
			fc.File = &TrackFile{Name: n.Args[0]}
		}
	}, "track_file").
	add(noBlock, func(d *decoder, n *Node, fc *FileCheck) {
		const usage = "weight N [reverse|noreverse] (-2147483647..2147483647)"
		if !d.args(n, 1, 2, usage) {
			return
		}
		w, err := strconv.ParseInt(n.Args[0], 10, 64)
		if err != nil || w < -trackFileWeightMax || w > trackFileWeightMax {
			d.errorf(n, "write "+usage, "%q is not a weight", n.Args[0])
			return
		}
		rev := false
		if len(n.Args) == 2 {
			switch n.Args[1] {
			case "reverse":
				rev = true
			case "noreverse":
			default:
				d.errorf(n, "write "+usage, "unknown weight option %q", n.Args[1])
				return
			}
		}
		fc.Weight, fc.Reverse = w, rev
		fc.weightSet = true
	}, "weight").
	add(noBlock, func(d *decoder, n *Node, _ *FileCheck) {
		// In keepalived's manual but not in its parser, which warns
		// about an unknown keyword: the weight always applies.
		d.warnf(n, "accepted but ignored: keepalived's parser has no dynamic keyword; a non-zero weight always applies")
	}, "dynamic")

// fileCheck decodes a FILE_CHECK block against the file's track_file
// blocks. It has none of the common checker keywords: the file's value
// applies at once, without retries.
func (d *decoder) fileCheck(n *Node, cfg *Config) *Check {
	fc := &FileCheck{}
	errsBefore := len(d.errs)
	decodeBlock(d, fileCheckTable, n, fc)
	if d.strict && len(d.errs) > errsBefore {
		return nil // the load fails: spare the follow-on messages
	}
	if fc.File == nil {
		d.errorf(n, "add track_file NAME (a top-level track_file block)", "FILE_CHECK has no track_file")
		return nil
	}
	name := fc.File.Name
	fc.File = nil
	for _, tf := range cfg.TrackFiles {
		if tf.Name == name {
			fc.File = tf
		}
	}
	if fc.File == nil {
		var names []string
		for _, tf := range cfg.TrackFiles {
			names = append(names, tf.Name)
		}
		d.errorf(n, "define track_file "+name+" { file /path } at the top level (defined: "+strings.Join(names, ", ")+")",
			"track_file %s not found", name)
		return nil
	}
	if !fc.weightSet {
		fc.Weight, fc.Reverse = int64(fc.File.Weight), fc.File.Reverse
	}
	return &Check{Pos: n.Pos, Kind: CheckFile, File: fc}
}
