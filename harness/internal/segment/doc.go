// Package segment splits a run between runners with k6's execution
// segments, re-implemented from k6's documentation and its public design
// discussion (never from its code, which is AGPL).
//
// A [Segment] FROM:TO is the part of the run one runner does, in exact
// rationals (k6's --execution-segment syntax, [Parse]). A [Sequence] is the
// boundaries of all the runners' segments (--execution-segment-sequence,
// [ParseSequence]); [Split] makes n equal ones and [Cover] checks that a
// set of segments covers 0 to 1 exactly once. A [Tuple], a segment within
// its sequence, says how many of n whole things a runner gets
// ([Tuple.Scale]) and which global indexes it owns ([Tuple.Owns],
// [Tuple.Iter]): the sequence's segments stripe the indexes, so the
// runners' shares add up exactly, no index is owned twice or not at all,
// and each runner's indexes are spread over the run rather than bunched.
package segment
