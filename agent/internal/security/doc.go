// Package security holds the agent's end-to-end security checks, run as
// tests against a real PostgreSQL cluster and a loopback S3 server: the
// agent stays inside its branch's prefix of the bucket (as a Backblaze B2
// key restricted to one prefix demands), and secrets never reach its
// output, its errors or a child process's command line. It has no code of
// its own.
package security
