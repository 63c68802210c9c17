package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsNameEveryKeyword keeps docs/config.md's keyword tables whole:
// every keyword of every block table must appear there, in backquotes,
// so that a keyword added to a table is documented as run or ignored.
func TestDocsNameEveryKeyword(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string][]string{
		"top level": rootTable.names(), "global_defs": globalTable.names(), "virtual_server": vsTable.names(),
		"real_server": rsTable.names(), "TCP_CHECK": tcpCheckTable.names(), "HTTP_GET": httpCheckTable.names(),
		"url": urlTable.names(), "MISC_CHECK": miscCheckTable.names(), "UDP_CHECK": udpCheckTable.names(),
		"DNS_CHECK": dnsCheckTable.names(), "PING_CHECK": pingCheckTable.names(),
		"vrrp_instance": vrrpInstanceTable.names(), "vrrp_script": vrrpScriptTable.names(),
		"vrrp_sync_group": vrrpSyncTable.names(), "ulvs": ulvsTable.names(),
	}
	for block, names := range tables {
		for _, name := range names {
			if !strings.Contains(string(doc), "`"+name+"`") && !strings.Contains(string(doc), "`"+name+" ") {
				t.Errorf("docs/config.md does not name %s keyword %s", block, name)
			}
		}
	}
}
