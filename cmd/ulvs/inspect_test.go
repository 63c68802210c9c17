package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ulvs/ulvs/internal/inspect"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// inspectTestdata holds the golden files of ulvs inspect, beside the
// package that renders them.
const inspectTestdata = "../../internal/inspect/testdata"

// goldenCases are command lines of `ulvs inspect` whose text and JSON
// output are kept in testdata.
var goldenCases = []struct {
	name string
	args []string
}{
	{"nat", []string{"--mode", "nat", "--sched", "rr", "--real", "10.0.2.11:8080", "--real", "10.0.2.12:8080",
		"tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 20; tcp 10.0.2.11:8080 > 10.0.1.2:40000 flags SA; tcp 10.0.1.2:40000 > 10.0.1.100:80 flags A"}},
	{"dr", []string{"--mode", "dr", "--real", "10.0.2.11:80", "udp 10.0.1.2:5000 > 10.0.1.100:80 len 12"}},
	{"tun", []string{"--mode", "tun", "--real", "10.0.2.11:80", "tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 8"}},
	{"all", []string{"--mode", "all", "--real", "10.0.2.11:8080", "--no-hex", "tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S"}},
	{"drops", []string{"--mode", "all", "--real", "10.0.2.11:8080", "--no-hex",
		"tcp 10.0.1.3:40000 > 10.0.1.100:80 flags A; udp 10.0.1.3:40000 > 10.0.1.100:80 ttl 1; tcp 10.0.1.4:40000 > 10.0.1.100:80 flags S len 1470"}},
	{"config", []string{"-f", inspectTestdata + "/mixed.conf", "--no-hex", "tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S; tcp 10.0.1.2:40001 > 10.0.1.100:80 flags S"}},
}

func run(t *testing.T, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := inspectCmd(append([]string{"--color", "never"}, args...), &out); err != nil {
		t.Fatalf("inspect %q: %v", args, err)
	}
	return out.Bytes()
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; got:\n%s", path, got)
	}
}

func TestGoldenText(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, filepath.Join(inspectTestdata, tc.name+".txt"), run(t, tc.args...))
		})
	}
}

func TestGoldenJSON(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, append([]string{"--json"}, tc.args...)...)
			checkGolden(t, filepath.Join(inspectTestdata, tc.name+".json"), got)
			checkSchema(t, got)
		})
	}
}

// checkSchema checks the JSON's shape: every record has a mode, a
// decision kind and a decoded before frame; every checksum of a frame the
// director sent is correct; changed fields carry their old value.
func checkSchema(t *testing.T, data []byte) {
	t.Helper()
	var rws []map[string]any
	if err := json.Unmarshal(data, &rws); err != nil {
		t.Fatalf("not a JSON array of records: %v", err)
	}
	for _, rw := range rws {
		for _, k := range []string{"packet", "mode", "decision", "before", "after"} {
			if _, ok := rw[k]; !ok {
				t.Errorf("record without %q: %v", k, rw)
			}
		}
		if rw["decision"].(map[string]any)["kind"] == "" {
			t.Errorf("decision without kind")
		}
		frames := []any{rw["before"]}
		if a, ok := rw["after"].([]any); ok {
			frames = append(frames, a...)
		}
		for _, f := range frames {
			fm := f.(map[string]any)
			for _, k := range []string{"interface", "direction", "length", "hex", "layers"} {
				if _, ok := fm[k]; !ok {
					t.Errorf("frame without %q", k)
				}
			}
			for _, l := range fm["layers"].([]any) {
				for _, fd := range l.(map[string]any)["fields"].([]any) {
					fld := fd.(map[string]any)
					if c, ok := fld["check"]; ok && c == "incorrect" {
						t.Errorf("%v: %v is incorrect", rw["mode"], fld["key"])
					}
					if fld["status"] == "changed" && fld["old"] == nil {
						t.Errorf("changed field %v without old value", fld["key"])
					}
				}
			}
		}
	}
}

// TestRewriteMarks: the changed fields of each method are exactly the
// ones the method must change.
func TestRewriteMarks(t *testing.T) {
	want := map[string][]string{
		"NAT": {"eth.dst", "eth.src", "ip.ttl", "ip.checksum", "ip.dst", "tcp.dstport", "tcp.checksum"},
		"DR":  {"eth.dst", "eth.src"},
		"TUN": {"eth.dst", "eth.src", "ip.ttl", "ip.checksum"},
	}
	var rws []inspect.Rewrite
	if err := json.Unmarshal(run(t, "--json", "--mode", "all", "--real", "10.0.2.11:8080", "tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 10"), &rws); err != nil {
		t.Fatal(err)
	}
	for _, rw := range rws {
		var changed []string
		added := 0
		for _, l := range rw.After[0].Layers {
			for _, f := range l.Fields {
				switch f.Status {
				case "changed":
					changed = append(changed, f.Key)
				case "added":
					added++
				}
			}
		}
		if strings.Join(changed, ",") != strings.Join(want[rw.Mode], ",") {
			t.Errorf("%s changed %v, want %v", rw.Mode, changed, want[rw.Mode])
		}
		if (rw.Mode == "TUN") != (added > 0) {
			t.Errorf("%s: %d added fields", rw.Mode, added)
		}
		if len(rw.After[0].Changed) == 0 {
			t.Errorf("%s: no changed bytes", rw.Mode)
		}
	}
}

// TestPcapngRoundTrip writes a pcapng, reads it back with gopacket and
// with tshark: the frames, their interfaces, comments and checksums.
func TestPcapngRoundTrip(t *testing.T) {
	out := filepath.Join(t.TempDir(), "lesson.pcapng")
	run(t, "--mode", "all", "--real", "10.0.2.11:8080", "--out", out,
		"tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 20; tcp 10.0.2.11:8080 > 10.0.1.2:40000 flags SA; tcp 10.0.1.5:1 > 10.0.1.100:80 flags S ttl 1")
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var frames int
	var ifaces []int
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		frames++
		ifaces = append(ifaces, ci.InterfaceIndex)
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.Layer(layers.LayerTypeIPv4) == nil {
			t.Errorf("frame %d: no IPv4 layer", frames)
		}
	}
	if r.NInterfaces() != 2 {
		t.Errorf("%d interfaces, want 2", r.NInterfaces())
	}
	// SYN: before + NAT, DR, TUN; SYN-ACK: before + NAT; TTL 1: before +
	// NAT's and TUN's ICMP errors + DR's forward.
	if frames != 10 {
		t.Errorf("gopacket read %d frames, want 10", frames)
	}
	if ifaces[0] != 0 || ifaces[1] != 1 || ifaces[4] != 1 || ifaces[5] != 0 {
		t.Errorf("interfaces %v", ifaces)
	}

	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is needed to check the pcapng the way Wireshark reads it; install tshark")
	}
	cmd := exec.Command("tshark", "-r", out, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.interface_name", "-e", "frame.packet_id",
		"-e", "ip.checksum.status", "-e", "tcp.checksum.status", "-e", "frame.comment")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 10 {
		t.Fatalf("tshark read %d frames:\n%s", len(lines), b)
	}
	for _, ln := range lines {
		c := strings.Split(ln, "|")
		if len(c) != 6 {
			t.Fatalf("tshark line %q", ln)
		}
		if !strings.HasPrefix(c[5], "ulvs packet ") {
			t.Errorf("frame %s: comment %q", c[0], c[5])
		}
		for _, st := range []string{c[3], c[4]} {
			for _, s := range strings.Split(st, ",") {
				if s != "" && s != "1" {
					t.Errorf("frame %s: checksum status %q (1 is good): %s", c[0], st, ln)
				}
			}
		}
	}
	for i, want := range []string{"BEFORE", "AFTER NAT", "AFTER DR", "AFTER TUN"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("frame %d comment lacks %q: %s", i+1, want, lines[i])
		}
	}
	if !strings.Contains(lines[0], "NAT: sent as frame 2") || !strings.Contains(lines[1], "rewrite of frame 1: DNAT 10.0.1.100:80 -> 10.0.2.11:8080") {
		t.Errorf("the pair is not linked:\n%s\n%s", lines[0], lines[1])
	}
	if !strings.Contains(lines[6], "NAT: dropped (ttl_expired)") || !strings.HasPrefix(lines[1], "2|real-server|1|") {
		t.Errorf("drop or interface not recorded:\n%s\n%s", lines[6], lines[1])
	}

	// inspect reads its own output back.
	in, err := inspect.ReadCapture(out)
	if err != nil || len(in) != 10 {
		t.Fatalf("ReadCapture: %d frames, %v", len(in), err)
	}
}

// TestCommandErrors: each wrong command line fails with the message that
// tells the user what to do, and with nothing else (a wrong case that
// failed for another reason would pass a bare err != nil check).
func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // a substring of the error
	}{
		{nil, "nothing to inspect: describe a packet or read a capture with -r"},
		{[]string{"tcp 10.0.1.2:1 > 10.0.1.100:80"}, "no virtual service: give a keepalived.conf with -f, or real servers with --real ADDR:PORT"},
		{[]string{"--real", "10.0.2.11:80", "--mode", "bogus", "tcp 10.0.1.2:1 > 10.0.1.100:80"}, `mode "bogus": use nat, dr, tun or all`},
		{[]string{"--real", "10.0.2.11", "tcp 10.0.1.2:1 > 10.0.1.100:80"}, `real server "10.0.2.11": write IPv4ADDR:PORT or IPv4ADDR:PORT=WEIGHT`},
		{[]string{"--real", "10.0.2.11:80", "icmp 10.0.1.2 > 10.0.1.100"}, "with --real, the first packet must be TCP or UDP to a VIP:PORT"},
		{[]string{"-f", inspectTestdata + "/missing.conf", "tcp 10.0.1.2:1 > 10.0.1.100:80"}, "missing.conf: no such file or directory"},
	} {
		var out bytes.Buffer
		err := inspectCmd(tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestReadPcap: a classic pcap capture is inspected like described
// packets, its timestamps kept.
func TestReadPcap(t *testing.T) {
	sp, err := inspect.ParseSpec("tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S")
	if err != nil {
		t.Fatal(err)
	}
	frame, err := sp.Frame(inspect.SynthMAC(sp.Src.Addr()), inspect.DirectorClientMAC)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65536, layers.LinkTypeEthernet)
	ts := time.Unix(1700000000, 0)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}, frame)
	f.Close()
	var rws []inspect.Rewrite
	if err := json.Unmarshal(run(t, "--json", "-r", path, "--mode", "nat", "--real", "10.0.2.11:8080"), &rws); err != nil {
		t.Fatal(err)
	}
	if len(rws) != 1 || rws[0].Decision.Real != "10.0.2.11:8080" || !rws[0].Time.Equal(ts) || rws[0].Decision.Service != "TCP 10.0.1.100:80" {
		t.Errorf("from pcap: %+v", rws)
	}
}
