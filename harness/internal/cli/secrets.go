package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/flagstorm/flagstorm/internal/secret"
)

// secretFlag is a secret a command takes (an admin token, a password)
// four ways, in this order of precedence: --NAME VALUE on the command
// line (readable by every local user in ps and /proc: a warning says so),
// --NAME-file FILE, then their environment fallbacks FLAGSTORM_NAME and
// FLAGSTORM_NAME_FILE.
type secretFlag struct {
	name        string
	value, file string
}

// define defines --NAME and --NAME-file on fs.
func (s *secretFlag) define(fs *flag.FlagSet, name, usage string) {
	s.name = name
	fs.StringVar(&s.value, name, "", usage+"; prefer "+EnvName(name)+" or --"+name+"-file (a command line is readable by every local user)")
	fs.StringVar(&s.file, name+"-file", "", "read --"+name+" from this `FILE` (one line; keep it mode 0600)")
}

// resolve returns the secret (or "") once the flags and their environment
// fallbacks are parsed, warning on e.stderr when it came from the command
// line args or from a file other users may read. Its errors are usage
// errors.
func (s *secretFlag) resolve(e env, args []string) (string, error) {
	_, valueInArgv := flagInArgv(args, s.name)
	_, fileInArgv := flagInArgv(args, s.name+"-file")
	switch {
	case valueInArgv && fileInArgv:
		return "", usageError("--%s and --%s-file: give one", s.name, s.name)
	case valueInArgv:
		warnArgv(e, "--"+s.name, fmt.Sprintf("use --%s-file FILE or %s", s.name, EnvName(s.name)))
		return s.value, nil
	case fileInArgv || (s.value == "" && s.file != ""):
		v, open, err := secret.ReadFile(s.file)
		if err != nil {
			return "", usageError("--%s-file: %v", s.name, err)
		}
		if open {
			fmt.Fprintf(e.stderr, "flagstorm: warning: %s is readable by other users: chmod 600 it\n", s.file)
		}
		return v, nil
	}
	return s.value, nil
}

// flagInArgv reports whether args give flag name (-name, --name, with
// "=value" or the value in the next argument), and its value.
func flagInArgv(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		a, ok := strings.CutPrefix(a, "-")
		if !ok {
			continue
		}
		a = strings.TrimPrefix(a, "-")
		if a == name {
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// warnArgvURLs warns about each URL flag given on the command line with
// a secret in it (a password in its userinfo or in a query parameter).
func warnArgvURLs(e env, args []string, names ...string) {
	for _, n := range names {
		v, ok := flagInArgv(args, n)
		if !ok {
			continue
		}
		for _, u := range splitList(v) {
			if len(secret.InURL(u)) > 0 {
				warnArgv(e, "--"+n+" with a password", "use "+EnvName(n))
				break
			}
		}
	}
}

// warnArgv warns that a secret was given on the command line.
func warnArgv(e env, what, instead string) {
	fmt.Fprintf(e.stderr, "flagstorm: warning: %s on the command line is readable by every local user (ps, /proc/PID/cmdline): %s\n", what, instead)
}
