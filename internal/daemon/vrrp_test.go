package daemon

import (
	"net/netip"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/vrrp"
)

func TestVRRPConfigConversion(t *testing.T) {
	conf := `
vrrp_script chk { script "/bin/true"
 interval 2
 weight -10 }
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 9
  priority 120
  authentication {
    auth_type PASS
    auth_pass pw
  }
  mcast_src_ip 10.0.0.1
  virtual_ipaddress {
    10.0.0.50/24
  }
  virtual_ipaddress_excluded {
    10.0.0.51
  }
  track_script {
    chk
  }
  notify_master /n/m
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 10
  version 3
  advert_int 0.1
  v3_checksum_as_v2
  unicast_src_ip 10.0.0.1
  unicast_peer {
    10.0.0.2
  }
  virtual_ipaddress {
    10.0.0.60
  }
}
vrrp_sync_group G { group {
  VI_1
  VI_2
} }
`
	cfg, _, err := config.Parse("/k.conf", []byte(conf), config.Options{FS: fstest.MapFS{}, ConfigID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := vrrpConfig(&cfg.VRRP)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Instances) != 2 || len(rc.Scripts) != 1 || len(rc.SyncGroups) != 1 {
		t.Fatalf("%+v", rc)
	}
	a, b := rc.Instances[0], rc.Instances[1]
	if a.AuthType != vrrp.AuthPass || a.AuthPass != "pw" || a.Src != netip.MustParseAddr("10.0.0.1") ||
		len(a.VIPs) != 1 || a.VIPs[0] != netip.MustParseAddr("10.0.0.50") || len(a.ExcludedVIPs) != 1 ||
		a.TrackScripts[0] != (vrrp.Track{Name: "chk", Weight: -10}) || a.Notify.Master != "/n/m" ||
		a.GARPRepeat != 5 || a.GARPDelay != 5*time.Second || !a.Preempt || !a.HigherPrioSendAdvert {
		t.Errorf("VI_1 %+v", a)
	}
	if b.Version != 3 || b.Interval != 100*time.Millisecond || !b.ChecksumNoPseudo || len(b.Peers) != 1 ||
		b.Src != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("VI_2 %+v", b)
	}
	// The router accepts what the conversion produced.
	rc.Owner = &vipOwner{}
	rc.Open = func(string) (vrrp.Transport, error) { return nil, nil }
	if _, err := vrrp.New(rc); err != nil {
		t.Fatal(err)
	}
}
