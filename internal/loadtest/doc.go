// Package loadtest owns Slipway's load-test engine: the target format and the
// host policy that keeps a test pointed at its own environment, the spec and
// its validation against admin limits, the attack itself with live one-second
// windows, threshold checks with a pass/fail verdict, the final report and the
// side-by-side comparison of two reports.
//
// It is the only package in the project that imports Vegeta; nothing outside
// it sees a Vegeta type. It knows nothing of the database, HTTP handlers or
// jobs: a job builds a Spec, calls Run, pushes each Window to the live hub and
// stores the Report.
//
// JSON: Spec encodes durations as Go does (integer nanoseconds, exact round
// trip); Report, Window, Latencies and Bucket encode durations as
// floating-point milliseconds, which is what charts and tables want.
package loadtest
