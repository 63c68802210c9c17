package metrics

import "github.com/prometheus/client_golang/prometheus"

// AlertSource is a Source that also sends smtp_alert mail; the collector
// reads its counters when the source has them.
type AlertSource interface {
	AlertMails() (sent, failed, dropped uint64)
}

var alertMails = desc("ulvs_alert_mails_total", "smtp_alert mails by result: sent, failed (the SMTP server refused or did not answer), dropped (the queue was full).", "result")

func (c *Collector) collectAlerts(ch chan<- prometheus.Metric) {
	a, ok := c.src.(AlertSource)
	if !ok {
		return
	}
	sent, failed, dropped := a.AlertMails()
	for _, v := range []struct {
		n      uint64
		result string
	}{{sent, "sent"}, {failed, "failed"}, {dropped, "dropped"}} {
		ch <- prometheus.MustNewConstMetric(alertMails, prometheus.CounterValue, float64(v.n), v.result)
	}
}
