// Package aggregator is the central Branchwatch service: it reads every
// branch's metrics documents and backup listings from the bucket, judges each
// branch's freshness, alerts, and serves the dashboard, API and CSV.
package aggregator
