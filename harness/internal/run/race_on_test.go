//go:build race

package run

// raceBuild: the tests run with -race (make test, make test-short).
const raceBuild = true
