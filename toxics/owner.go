package toxics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Owner is who a fault belongs to on a Toxiproxy server that others use
// too: a run, and when its faults may be taken for abandoned. Toxiproxy
// keeps no owner and no expiry, so both are written into the name of
// every toxic a controller adds:
//
//	flagstorm.<run id>.<expiry, Unix seconds>.<what>
//
// where <what> is "<kind>_<stream>_<n>" for a fault's toxic, like
// "latency_downstream_3", and, on a shared server ([Remote]),
// "refused_<n>" for the marker that records a proxy disabled by a Refused
// fault (a "noop" toxic with toxicity 0: it changes nothing on the wire). A name in any other shape is not
// flagstorm's, and a sweep never touches it; nor does it re-enable a
// disabled proxy without a marker of ours or an expired one.
type Owner struct {
	// RunID identifies the run: 1 to 32 characters from [0-9a-z].
	// NewRunID makes one.
	RunID string
	// Expires is when the run's faults may be removed by any flagstorm
	// run, even though their own run never did: the run's planned end plus
	// a margin. Whole seconds; a zero Expires is invalid.
	Expires time.Time
}

// DefaultLease is how long the faults of a [Remote] whose configuration
// gives no expiry stay its own: [Owner.Expires] is then this long after
// [NewRemote].
const DefaultLease = 15 * time.Minute

// neverExpires is the expiry of an [Embedded] controller's faults: they
// live exactly as long as its server, which is this process.
var neverExpires = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// ownedPrefix starts the name of every toxic a controller adds.
const ownedPrefix = "flagstorm"

// markerWhat starts the <what> of a Refused fault's marker toxic.
const markerWhat = "refused"

// NewRunID returns a fresh random run id: 16 hexadecimal digits.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// Validate reports what is wrong with o, if anything.
func (o Owner) Validate() error {
	var errs []error
	if !validRunID(o.RunID) {
		errs = append(errs, fmt.Errorf("toxics: owner: run id %q: want 1 to 32 characters from [0-9a-z]", o.RunID))
	}
	if o.Expires.Unix() <= 0 {
		errs = append(errs, errors.New("toxics: owner: missing expiry"))
	}
	return errors.Join(errs...)
}

func validRunID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// Expired reports whether o's faults are past their expiry at now.
func (o Owner) Expired(now time.Time) bool { return !now.Before(o.Expires) }

// String returns "run <id> (expires <RFC 3339 time>)".
func (o Owner) String() string {
	return fmt.Sprintf("run %s (expires %s)", o.RunID, o.Expires.UTC().Format(time.RFC3339))
}

// toxicName returns the name of one of o's toxics.
func (o Owner) toxicName(what string) string {
	return ownedPrefix + "." + o.RunID + "." + strconv.FormatInt(o.Expires.Unix(), 10) + "." + what
}

// ParseToxicName reads the owner out of a toxic's name, as a controller
// writes it (see [Owner]); ok is false for a name that is not
// flagstorm's. marker is true for the marker of a disabled proxy.
func ParseToxicName(name string) (o Owner, marker, ok bool) {
	parts := strings.SplitN(name, ".", 4)
	if len(parts) != 4 || parts[0] != ownedPrefix || !validRunID(parts[1]) || parts[3] == "" {
		return Owner{}, false, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || exp <= 0 || parts[2] != strconv.FormatInt(exp, 10) {
		return Owner{}, false, false
	}
	what := parts[3]
	marker = what == markerWhat || strings.HasPrefix(what, markerWhat+"_")
	return Owner{RunID: parts[1], Expires: time.Unix(exp, 0)}, marker, true
}

// Swept is what a sweep removed: toxics as "proxy/toxic", and the
// proxies it enabled again.
type Swept struct {
	Toxics  []string
	Enabled []string
}

// Empty reports whether the sweep found nothing to do.
func (s Swept) Empty() bool { return len(s.Toxics) == 0 && len(s.Enabled) == 0 }

// Sweeper is a [Controller] on a Toxiproxy server it shares with others
// ([Remote]): Sweep stands in for ResetAll. A [Session] over a Sweeper
// sweeps where it would otherwise reset everything.
type Sweeper interface {
	Controller
	// Owner is who the controller's faults belong to.
	Owner() Owner
	// Sweep removes the toxics of the controller's own run and the expired
	// ones of any flagstorm run, and enables the proxies whose marker is
	// the run's own or expired. Anything else on the server stays as it
	// is: other people's toxics, proxies disabled by someone else, and the
	// unexpired faults of other flagstorm runs.
	Sweep(ctx context.Context) (Swept, error)
}
