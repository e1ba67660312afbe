//go:build !race

package run

// raceBuild: the tests run without -race.
const raceBuild = false
