// Package workflowcheck holds the test of the scheduled CI workflow,
// .github/workflows/resilience.yml: it parses, runs on a schedule (and
// by hand), installs what the suite needs, calls only make targets the
// Makefile has, and uploads the reports even when the suite fails. It has
// no code of its own.
package workflowcheck
