package bench

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestBuildFrames(t *testing.T) {
	spec := FrameSpec{
		SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, DstMAC: [6]byte{2, 0, 0, 0, 0, 2},
		SrcBase: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.1.100"),
		DstPort: 5300, Flows: 10000,
	}
	buf, err := BuildFrames(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(buf) != spec.Flows*FrameLen {
		t.Fatalf("%d bytes, want %d", len(buf), spec.Flows*FrameLen)
	}
	tuples := map[[6]byte]bool{}
	srcs := map[netip.Addr]bool{}
	for i := range spec.Flows {
		frame := buf[i*FrameLen : (i+1)*FrameLen]
		// Decode with gopacket, an implementation independent of ours.
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: %v", i, el.Error())
		}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !bytes.Equal(eth.DstMAC, spec.DstMAC[:]) || !bytes.Equal(eth.SrcMAC, spec.SrcMAC[:]) {
			t.Fatalf("frame %d: MACs %v -> %v", i, eth.SrcMAC, eth.DstMAC)
		}
		if ip.Length != FrameLen-14 || udp.Length != FrameLen-34 || int(udp.DstPort) != int(spec.DstPort) {
			t.Fatalf("frame %d: ip len %d, udp len %d, dport %d", i, ip.Length, udp.Length, udp.DstPort)
		}
		// Recompute both checksums with gopacket and compare.
		wantIP, wantUDP := ip.Checksum, udp.Checksum
		sb := gopacket.NewSerializeBuffer()
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true}, ip, udp, gopacket.Payload(udp.Payload)); err != nil {
			t.Fatal(err)
		}
		re := gopacket.NewPacket(sb.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
		if got := re.Layer(layers.LayerTypeIPv4).(*layers.IPv4).Checksum; got != wantIP {
			t.Fatalf("frame %d: IPv4 checksum %#04x, gopacket computes %#04x", i, wantIP, got)
		}
		if got := re.Layer(layers.LayerTypeUDP).(*layers.UDP).Checksum; got != wantUDP {
			t.Fatalf("frame %d: UDP checksum %#04x, gopacket computes %#04x", i, wantUDP, got)
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		srcs[src] = true
		var key [6]byte
		copy(key[:4], ip.SrcIP.To4())
		key[4], key[5] = byte(udp.SrcPort>>8), byte(udp.SrcPort)
		tuples[key] = true
	}
	if len(tuples) != spec.Flows {
		t.Errorf("%d distinct flows, want %d", len(tuples), spec.Flows)
	}
	if len(srcs) != 40 {
		t.Errorf("%d source addresses, want 40 (250 ports each)", len(srcs))
	}
}

func TestBuildFramesRejects(t *testing.T) {
	ok := FrameSpec{SrcBase: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.1.100"), Flows: 1}
	tests := []struct {
		name string
		mod  func(*FrameSpec)
	}{
		{"no flows", func(s *FrameSpec) { s.Flows = 0 }},
		{"IPv6", func(s *FrameSpec) { s.Dst = netip.MustParseAddr("::1") }},
		{"port overflow", func(s *FrameSpec) { s.FirstPort, s.PortsPerAddr = 65000, 1000 }},
		{"address overflow", func(s *FrameSpec) { s.SrcBase, s.Flows = netip.MustParseAddr("255.255.255.255"), 1000 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.mod(&s)
			if _, err := BuildFrames(s); err == nil {
				t.Errorf("BuildFrames(%+v) succeeded, want an error", s)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func sampleReport() *Report {
	mk := func(s Subject, del ...float64) Result {
		r := Result{Subject: s, Description: s.Describe()}
		for i, d := range del {
			r.Samples = append(r.Samples, Sample{Run: i + 1, DeliveredPPS: d, OfferedPPS: 1e6, SubjectNsPerPkt: 1000, GenNsPerPkt: 700, CPUBusy: []float64{100, 90}})
		}
		r.summarize()
		return r
	}
	rep := &Report{Setup: Setup{FrameLen: FrameLen, Flows: 10000, Reals: 4, Runs: 3, Duration: "3s", Warmup: "300ms", Workers: 1, Pinned: true, SubjectCPU: 1}}
	rep.Results = []Result{
		mk(ULVSNAT, 800e3, 900e3, 850e3), mk(ULVSDR, 900e3, 900e3, 900e3), mk(ULVSTUN, 450e3, 500e3, 400e3),
		mk(Null, 1e6, 1e6, 1e6), mk(KernelDNAT, 500e3, 500e3, 500e3), mk(KernelDNATRPS, 250e3, 250e3, 250e3),
	}
	rep.computeRatios()
	return rep
}

func TestSummaryAndRatios(t *testing.T) {
	rep := sampleReport()
	nat := rep.Result(ULVSNAT)
	if nat.DeliveredPPS != 850e3 || nat.DeliveredMin != 800e3 || nat.DeliveredMax != 900e3 || nat.DeliveryRatio != 0.85 {
		t.Errorf("ulvs-nat summary %+v", nat)
	}
	want := map[string]float64{
		"ulvs-nat / null-forwarder": 0.85, "ulvs-dr / kernel-dnat": 1.8, "ulvs-tun / kernel-dnat-rps": 1.8,
	}
	got := map[string]float64{}
	for _, q := range rep.Ratios {
		got[q.Name] = q.Value
	}
	if len(got) != 9 {
		t.Errorf("%d ratios, want 9: %v", len(got), rep.Ratios)
	}
	for k, v := range want {
		if g := got[k]; g < v-1e-9 || g > v+1e-9 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if r := rep.Result("nope"); r != nil {
		t.Errorf("Result of an unknown subject = %+v", r)
	}
}

func TestReportOutputs(t *testing.T) {
	rep := sampleReport()
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range AllSubjects() {
		if !strings.Contains(b.String(), string(s)) {
			t.Errorf("table lacks %s:\n%s", s, b.String())
		}
	}
	if !strings.Contains(b.String(), "ulvs-nat / null-forwarder            0.850") {
		t.Errorf("table lacks the NAT/null ratio:\n%s", b.String())
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 6 || back.Results[0].Samples[0].DeliveredPPS != 800e3 || len(back.Ratios) != 9 {
		t.Errorf("JSON round trip lost data: %s", js)
	}
	for _, field := range []string{`"delivered_pps_median"`, `"offered_pps_median"`, `"subject_ns_per_pkt_median"`, `"cpu_busy_pct"`, `"ratios"`} {
		if !strings.Contains(string(js), field) {
			t.Errorf("JSON lacks %s", field)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if len(o.Subjects) != 6 || o.Flows != 10000 || o.Runs != 3 || o.SubjectCPU != 1 || o.GenCPU != 0 || o.Workers != 1 || o.Logger == nil {
		t.Errorf("defaults %+v", o)
	}
	o = Options{GenCPU: 1, SubjectCPU: 0}.withDefaults()
	if o.GenCPU != 1 || o.SubjectCPU != 0 {
		t.Errorf("explicit CPUs overridden: %+v", o)
	}
}
