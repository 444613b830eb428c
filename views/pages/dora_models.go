package pages

// DORAPage is a project's DORA metrics for one environment and window.
type DORAPage struct {
	Slug, Name   string
	Environment  string
	Environments []string
	Days         int
	Windows      []int
	// From and To are the window's first and last UTC days.
	From, To string
	Cards    []DORACard
	Bands    []DORABandRow
	Chart    DORAChart
	ChartJS  string
	ChartCSS string
}

// DORACard is one metric's number and band.
type DORACard struct {
	Key, Label string
	// Value is the metric in words ("2.5 per day", "3 h 20 min", "40%"),
	// or "—" when there is nothing to measure.
	Value string
	// Band is elite, high, medium, low or "" (no band).
	Band string
	// Detail says what the value is made of.
	Detail string
}

// DORABandRow is one metric's band limits, elite first.
type DORABandRow struct {
	Label  string
	Limits []string
}

// DORAChart is the daily series the page's script draws.
type DORAChart struct {
	Dates  []string     `json:"dates"`
	Series []DORASeries `json:"series"`
}

// DORASeries is one metric's daily values in Unit; null where a day has
// none.
type DORASeries struct {
	Key    string     `json:"key"`
	Label  string     `json:"label"`
	Unit   string     `json:"unit"`
	Values []*float64 `json:"values"`
}

// DORABandClass colours a band badge (the band is also written out).
func DORABandClass(band string) string {
	switch band {
	case "elite":
		return "bg-emerald-100 text-emerald-900 ring-emerald-300"
	case "high":
		return "bg-sky-100 text-sky-900 ring-sky-300"
	case "medium":
		return "bg-amber-100 text-amber-900 ring-amber-300"
	case "low":
		return "bg-red-100 text-red-900 ring-red-300"
	}
	return "bg-slate-100 text-slate-700 ring-slate-300"
}

// DORABandText names a band for the badge.
func DORABandText(band string) string {
	if band == "" {
		return "no band"
	}
	return band
}
