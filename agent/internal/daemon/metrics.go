package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric names on /metrics, one series per job (label "job").
const (
	MetricLastSuccess = "branchwatch_agent_job_last_success_timestamp_seconds"
	MetricLastFailure = "branchwatch_agent_job_last_failure_timestamp_seconds"
	MetricLastDur     = "branchwatch_agent_job_last_duration_seconds"
	MetricLastSize    = "branchwatch_agent_job_last_size_bytes"
	MetricFailures    = "branchwatch_agent_job_failures_total"
	MetricRuns        = "branchwatch_agent_job_runs_total"
	MetricRetries     = "branchwatch_agent_job_retries_total"
	MetricRunning     = "branchwatch_agent_job_running"
	MetricNextRun     = "branchwatch_agent_job_next_run_timestamp_seconds"
)

// jobMetrics are the per-job series, on a registry of the daemon's own.
type jobMetrics struct {
	reg         *prometheus.Registry
	lastSuccess *prometheus.GaugeVec
	lastFailure *prometheus.GaugeVec
	lastDur     *prometheus.GaugeVec
	lastSize    *prometheus.GaugeVec
	failures    *prometheus.CounterVec
	runs        *prometheus.CounterVec
	retries     *prometheus.CounterVec
	running     *prometheus.GaugeVec
	nextRun     *prometheus.GaugeVec
}

func newJobMetrics() *jobMetrics {
	label := []string{"job"}
	m := &jobMetrics{
		reg: prometheus.NewRegistry(),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLastSuccess,
			Help: "Unix time of the job's last successful run (0: none since start)."}, label),
		lastFailure: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLastFailure,
			Help: "Unix time of the job's last failed run (0: none since start)."}, label),
		lastDur: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLastDur,
			Help: "Duration of the job's last run, successful or not, retries included."}, label),
		lastSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLastSize,
			Help: "Bytes produced by the job's last successful run (dump, metrics document)."}, label),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricFailures,
			Help: "Runs of the job that failed after their retries."}, label),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRuns,
			Help: "Runs of the job, successful or not."}, label),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRetries,
			Help: "Failed attempts of the job that were retried."}, label),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricRunning,
			Help: "1 while the job runs."}, label),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricNextRun,
			Help: "Unix time of the job's next scheduled run."}, label),
	}
	m.reg.MustRegister(m.lastSuccess, m.lastFailure, m.lastDur, m.lastSize, m.failures, m.runs, m.retries, m.running, m.nextRun,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// declare makes every series of a job visible (at zero) before its first run.
func (m *jobMetrics) declare(job string) {
	m.lastSuccess.WithLabelValues(job)
	m.lastFailure.WithLabelValues(job)
	m.lastDur.WithLabelValues(job)
	m.lastSize.WithLabelValues(job)
	m.failures.WithLabelValues(job)
	m.runs.WithLabelValues(job)
	m.retries.WithLabelValues(job)
	m.running.WithLabelValues(job)
}
