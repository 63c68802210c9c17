package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type alertFake struct{ fakeSource }

func (alertFake) AlertMails() (sent, failed, dropped uint64) { return 5, 2, 1 }

func TestAlertMails(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want map[string]float64
	}{
		{alertFake{}, map[string]float64{"sent": 5, "failed": 2, "dropped": 1}},
		{fakeSource{}, nil}, // a source without mail has no such series
	} {
		srv := httptest.NewServer(Handler(New(tc.src), "test"))
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		if f := fams["ulvs_alert_mails_total"]; f != nil {
			for _, m := range f.Metric {
				got[m.Label[0].GetValue()] = m.Counter.GetValue()
			}
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%T: %v, want %v", tc.src, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%T: result=%s %v, want %v", tc.src, k, got[k], v)
			}
		}
	}
}
