package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
)

// StatusSource is what the Prometheus collector reads at every scrape.
type StatusSource interface {
	Branches() []service.BranchStatus
	LastSync() service.SyncStatus
	Notifier() *alert.Notifier
	IgnoredPrefixes() []string
	// SyncProblem is the aggregator's own sync check, judged now.
	SyncProblem() freshness.Check
}

var states = []freshness.State{freshness.Up, freshness.Late, freshness.Down, freshness.Never, freshness.Unknown}

var (
	descState = prometheus.NewDesc("branchwatch_check_state",
		"1 for the check's current state (up, late, down, never), 0 for the others.", []string{"branch", "check", "state"}, nil)
	descUp = prometheus.NewDesc("branchwatch_check_up",
		"1 when the check is up, 0 when late, down or never seen.", []string{"branch", "check"}, nil)
	descMetricsDate = prometheus.NewDesc("branchwatch_last_metrics_date_timestamp_seconds",
		"Start (in the branch's zone) of the business date of the newest final metrics document.", []string{"branch"}, nil)
	descDrillTime = prometheus.NewDesc("branchwatch_last_drill_timestamp_seconds",
		"Start of the newest restore drill (Unix time).", []string{"branch"}, nil)
	descDrillOK = prometheus.NewDesc("branchwatch_last_drill_ok",
		"1 when the newest restore drill passed, 0 when it failed.", []string{"branch"}, nil)
	descBackupTime = prometheus.NewDesc("branchwatch_last_backup_timestamp_seconds",
		"Start time of the newest backup in the bucket.", []string{"branch"}, nil)
	descBackupSize = prometheus.NewDesc("branchwatch_last_backup_size_bytes",
		"Size of the newest backup in the bucket.", []string{"branch"}, nil)
	descDocs = prometheus.NewDesc("branchwatch_metrics_documents",
		"Good metrics documents of the branch.", []string{"branch"}, nil)
	descBad = prometheus.NewDesc("branchwatch_bad_documents",
		"Metrics documents of the branch refused as bad input.", []string{"branch"}, nil)
	descSyncSuccess = prometheus.NewDesc("branchwatch_sync_last_success_timestamp_seconds",
		"When the last sync without error finished.", nil, nil)
	descSyncAttempt = prometheus.NewDesc("branchwatch_sync_last_attempt_timestamp_seconds",
		"When the last sync started.", nil, nil)
	descSyncDuration = prometheus.NewDesc("branchwatch_sync_last_duration_seconds",
		"How long the last sync took.", nil, nil)
	descSyncOK = prometheus.NewDesc("branchwatch_sync_last_ok",
		"1 when the last sync had no error.", nil, nil)
	descSyncs = prometheus.NewDesc("branchwatch_syncs_total",
		"Syncs run since start.", nil, nil)
	descSyncFailures = prometheus.NewDesc("branchwatch_sync_failures_total",
		"Syncs that ended with an error since start.", nil, nil)
	descIgnoredPrefixes = prometheus.NewDesc("branchwatch_ignored_prefixes",
		"Top-level prefixes of the bucket that are not branches (not a branch id, or no metrics document name and no dump, and not expected); they never alert.", nil, nil)
	descSyncFailing = prometheus.NewDesc("branchwatch_sync_failing",
		"1 while syncs are failing (since the first failed sync after the last good one).", nil, nil)
	descSyncAlert = prometheus.NewDesc("branchwatch_sync_alert",
		"1 while syncs have failed for AGGREGATOR_SYNC_ALERT_AFTER: the sync-failure alert is raised.", nil, nil)
	descSyncFailingSince = prometheus.NewDesc("branchwatch_sync_failing_since_timestamp_seconds",
		"When the syncs began failing (present only while they fail).", nil, nil)
	descAlertsPending = prometheus.NewDesc("branchwatch_alerts_pending",
		"Alerts waiting for delivery on at least one alert channel.", nil, nil)
	descAlertsSent = prometheus.NewDesc("branchwatch_alerts_sent_total",
		"Alert deliveries that succeeded since start, every channel together.", nil, nil)
	descAlertFailures = prometheus.NewDesc("branchwatch_alert_delivery_failures_total",
		"Failed alert delivery attempts since start, every channel together.", nil, nil)
	descChannelPending = prometheus.NewDesc("branchwatch_alert_channel_pending",
		"Alerts waiting for delivery on one channel (email, telegram, webhook).", []string{"channel"}, nil)
	descChannelSent = prometheus.NewDesc("branchwatch_alert_channel_sent_total",
		"Alert deliveries that succeeded on one channel since start.", []string{"channel"}, nil)
	descChannelFailures = prometheus.NewDesc("branchwatch_alert_channel_failures_total",
		"Failed alert delivery attempts on one channel since start.", []string{"channel"}, nil)
)

// collector exposes the service's state, read at scrape time.
type collector struct{ src StatusSource }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descUp, descMetricsDate, descDrillTime, descDrillOK, descBackupTime, descBackupSize, descDocs, descBad,
		descSyncSuccess, descSyncAttempt, descSyncDuration, descSyncOK, descSyncs, descSyncFailures, descIgnoredPrefixes,
		descSyncFailing, descSyncAlert, descSyncFailingSince,
		descAlertsPending, descAlertsSent, descAlertFailures, descChannelPending, descChannelSent, descChannelFailures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, b := range c.src.Branches() {
		for _, chk := range b.Checks() {
			for _, s := range states {
				gauge(descState, boolf(chk.State == s), b.ID, chk.Name, string(s))
			}
			gauge(descUp, boolf(chk.State == freshness.Up), b.ID, chk.Name)
		}
		if b.LastMetricsDate != "" {
			if t, err := time.ParseInLocation("2006-01-02", b.LastMetricsDate, b.Location); err == nil {
				gauge(descMetricsDate, float64(t.Unix()), b.ID)
			}
		}
		if d := b.LastDrill; d != nil {
			gauge(descDrillTime, float64(d.DrilledAt.Unix()), b.ID)
			gauge(descDrillOK, boolf(d.OK), b.ID)
		}
		if b.LastBackup != nil {
			gauge(descBackupTime, float64(b.LastBackup.Time.Unix()), b.ID)
			gauge(descBackupSize, float64(b.LastBackup.Size), b.ID)
		}
		gauge(descDocs, float64(b.Documents), b.ID)
		gauge(descBad, float64(b.BadDocuments), b.ID)
	}
	s := c.src.LastSync()
	if !s.LastSuccess.IsZero() {
		gauge(descSyncSuccess, float64(s.LastSuccess.Unix()))
	}
	if !s.LastAttempt.IsZero() {
		gauge(descSyncAttempt, float64(s.LastAttempt.Unix()))
		gauge(descSyncDuration, s.LastStats.Duration.Seconds())
		gauge(descSyncOK, boolf(s.LastError == ""))
	}
	gauge(descIgnoredPrefixes, float64(len(c.src.IgnoredPrefixes())))
	sc := c.src.SyncProblem()
	gauge(descSyncFailing, boolf(sc.State != freshness.Up))
	gauge(descSyncAlert, boolf(sc.State == freshness.Down))
	if !sc.Since.IsZero() {
		gauge(descSyncFailingSince, float64(sc.Since.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(descSyncs, prometheus.CounterValue, float64(s.Syncs))
	ch <- prometheus.MustNewConstMetric(descSyncFailures, prometheus.CounterValue, float64(s.Failures))
	if n := c.src.Notifier(); n != nil {
		sent, failed := n.Counts()
		gauge(descAlertsPending, float64(n.Pending()))
		ch <- prometheus.MustNewConstMetric(descAlertsSent, prometheus.CounterValue, float64(sent))
		ch <- prometheus.MustNewConstMetric(descAlertFailures, prometheus.CounterValue, float64(failed))
		for _, cs := range n.Channels() {
			gauge(descChannelPending, float64(cs.Pending), cs.Channel)
			ch <- prometheus.MustNewConstMetric(descChannelSent, prometheus.CounterValue, float64(cs.Sent), cs.Channel)
			ch <- prometheus.MustNewConstMetric(descChannelFailures, prometheus.CounterValue, float64(cs.Failed), cs.Channel)
		}
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
