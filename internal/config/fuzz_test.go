package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// goldenFS holds the testdata files under /etc/keepalived so that fuzzed
// includes reach real files, loops included.
func goldenFS(f *testing.F) (fstest.MapFS, [][]byte) {
	fsys := fstest.MapFS{}
	var seeds [][]byte
	err := filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, "testdata"+string(filepath.Separator)))
		fsys["etc/keepalived/"+rel] = &fstest.MapFile{Data: data}
		seeds = append(seeds, data)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	return fsys, seeds
}

// maxFuzzInput keeps each fuzz iteration fast; the limits under test
// (nesting, includes, brace expansion) trigger far below it.
const maxFuzzInput = 64 << 10

func FuzzLex(f *testing.F) {
	_, seeds := goldenFS(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte("a \"b\\\" c\" \\\n d { } # x ! y \\# \\!"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		lines, err := lex("f.conf", data)
		if err != nil {
			return
		}
		for _, ln := range lines {
			if len(ln.toks) == 0 || ln.pos.Line < 1 {
				t.Fatalf("bad line %+v", ln)
			}
			for _, tok := range ln.toks {
				if tok.kind == tokWord && !tok.quoted && tok.text == "" {
					t.Fatal("empty unquoted word")
				}
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	fsys, seeds := goldenFS(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte("include *.conf\ninclude conf.d/{10,20}-*.conf\n@lb1 include loop.conf\n"))
	f.Add([]byte("virtual_server 10.0.0.1 80 {\n lb_kind TUN type gue port 1 csum\n real_server 10.0.2.1 {\n}\n}\n"))
	f.Add([]byte("virtual_server_group g {\n 10.0.0.1-3 80\n 10.0.1.0/30\n 2001:db8::1-a 80\n fwmark 3 inet6\n}\n" +
		"virtual_server group g {\n protocol TCP\n real_server 10.0.2.1 { }\n}\n"))
	f.Add([]byte("$P=80\n$RS=real_server 10.0.2.1 $P { \\\n weight 2 }\nvirtual_server 10.0.0.1 ${P} {\n $RS\n" +
		"~SEQ(n, 2, 4) real_server 10.0.2.$n $P { }\n~SEQx(h, 10, 12) @lb1 real_server 10.0.3.$h 80 { }\n}\n"))
	f.Add([]byte("$A=$B$B\n$B=$A$A\nrouter_id $A\n~SEQ(i, 1, 1000) ~SEQ(j, 1, 1000) ~SEQ(k, 1, 1000) x ${i}${j}${k}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		cfg, warns, err := Parse("/etc/keepalived/fuzz.conf", data, Options{FS: fsys, ConfigID: "lb1"})
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for _, w := range warns {
			if w.Pos.File == "" || w.Msg == "" {
				t.Fatalf("warning without position or message: %+v", w)
			}
		}
		want := 0
		for _, vs := range cfg.VirtualServers {
			if vs.Group == "" {
				want++
				continue
			}
			for _, e := range cfg.Group(vs.Group).Entries {
				want += max(e.count(), 1)
			}
		}
		if want > maxGroupServices*2 {
			t.Fatalf("%d services despite the limit", want)
		}
		svcs, err := cfg.Services()
		if err == nil && len(svcs) != want {
			t.Fatalf("%d services, want %d", len(svcs), want)
		}
		for _, vs := range cfg.VirtualServers {
			if vs.Scheduler == "" || len(vs.Reals) == 0 {
				t.Fatalf("virtual server without defaults: %+v", vs)
			}
			for _, rs := range vs.Reals {
				if rs.Weight > weightLimit {
					t.Fatalf("weight %d", rs.Weight)
				}
			}
		}
	})
}
