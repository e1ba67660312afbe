package toxics

// APIToxic is one toxic as Toxiproxy's HTTP API takes it
// (POST /proxies/{proxy}/toxics), without its name: for callers that
// drive a Toxiproxy without this package, such as the k6 script that
// flagstorm export k6 writes. Attributes are in Toxiproxy's units
// (milliseconds; microseconds for the slicer's delay).
type APIToxic struct {
	Type       string           `json:"type"`
	Stream     string           `json:"stream"`
	Toxicity   float32          `json:"toxicity"`
	Attributes map[string]int64 `json:"attributes"`
}

// APIToxics returns the toxics that make up a valid fault, one per
// stream, as both controllers add them. It returns nil for Refused, which
// is no toxic but a disabled proxy (POST /proxies/{proxy} with
// {"enabled": false}, and true again to remove it).
func (f Fault) APIToxics() []APIToxic {
	wire := f.wireToxics()
	if wire == nil {
		return nil
	}
	out := make([]APIToxic, len(wire))
	for i, w := range wire {
		out[i] = APIToxic{Type: w.Type, Stream: w.Stream, Toxicity: w.Toxicity, Attributes: w.Attributes}
	}
	return out
}
