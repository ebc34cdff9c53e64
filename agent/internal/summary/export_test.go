package summary

// DefaultQuerySQL exposes the default query to the tests (EXPLAIN).
var DefaultQuerySQL = defaultQuerySQL
