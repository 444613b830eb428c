package pages

import "time"

// AuditPage is the audit trail screen: filters, one page of events newest
// first, and links to older events and to the CSV export.
type AuditPage struct {
	Now    time.Time
	Filter AuditFilterForm
	// Actions are the actions recorded so far, for the filter.
	Actions []string
	Rows    []AuditRow
	// FilterError explains a filter that could not be read.
	FilterError string
	// Filtered is set when any filter is applied (changes the empty state).
	Filtered bool
	// NewestURL is set when this is not the first page; OlderURL when
	// there are older events.
	NewestURL, OlderURL string
	CSVURL              string
}

// AuditFilterForm is the filter form as typed.
type AuditFilterForm struct {
	Actor, Action, ObjectType, ObjectID string
	// Since and Until are dates (YYYY-MM-DD), both inclusive.
	Since, Until string
}

// AuditRow is one event as the table shows it.
type AuditRow struct {
	Seq       int64
	At        time.Time
	Actor     string
	ActorURL  string
	Action    string
	Object    string
	ObjectURL string
	Details   []AuditDetail
}

// AuditDetail is one key of an event's details, its value as text.
type AuditDetail struct {
	Key, Value string
}
