package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/termhtml"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/components"
)

// Limits of the log viewer's HTTP endpoints.
const (
	// maxLinesPage is the most lines /log/lines returns at once.
	maxLinesPage = 2000
	// searchScanLines is how many lines one search request reads at most;
	// the answer says where to continue.
	searchScanLines = 200_000
	// maxSearchMatches is the most matches one search request returns.
	maxSearchMatches = 1000
	// pageSearchMatches is how many matches the no-JS page lists.
	pageSearchMatches = 100
)

// logURLs derives the viewer's endpoint URLs from its log URL.
func logURLs(log string) (socket, lines, search, raw string) {
	return log + "/ws", log + "/lines", log + "/search", log + ".txt"
}

// logView reads one page of the stream (the tail, or ?from=) and the
// no-JS search (?q=), and builds the viewer's view model.
func (h *Handler) logView(c echo.Context, t logTarget, st logState) (components.LogView, error) {
	ctx := c.Request().Context()
	var p logs.Page
	var err error
	if v := c.QueryParam("from"); v != "" {
		from, perr := strconv.Atoi(v)
		if perr != nil || from < 1 {
			return components.LogView{}, badRequest("from must be a line number (1 or more)")
		}
		p, err = h.logs.Read(ctx, t.Stream, from, components.LogPageLines)
	} else {
		p, err = h.logs.Tail(ctx, t.Stream, components.LogPageLines)
	}
	if err != nil {
		return components.LogView{}, err
	}
	socket, linesURL, search, raw := logURLs(t.LogURL)
	v := components.LogView{
		Label:     t.Label,
		SocketURL: socket, LinesURL: linesURL, SearchURL: search, RawURL: raw, PageURL: t.PageURL,
		Total:     p.Total,
		Live:      !p.Closed && !st.Final,
		Status:    st.Status,
		Truncated: p.Truncated,
		Steps:     st.Steps,
		First:     p.Next,
		Last:      p.Next - 1,
	}
	if h.assets != nil {
		v.ScriptURL = h.assets.URL("logview.js")
	}
	if len(p.Lines) > 0 {
		v.First, v.Last = p.Lines[0].Line, p.Lines[len(p.Lines)-1].Line
	}
	steps, err := json.Marshal(nonNil(st.Steps))
	if err != nil {
		return components.LogView{}, err
	}
	v.StepsJSON = string(steps)
	v.Sections = logSections(st.Steps, renderLines(p.Lines))
	if q := strings.TrimSpace(c.QueryParam("q")); q != "" {
		res, err := h.searchLog(ctx, t.Stream, q, 1, pageSearchMatches)
		if err != nil {
			return components.LogView{}, err
		}
		v.Query, v.Matches, v.SearchDone = q, res.Matches, true
		if !res.Done {
			v.MoreAfter = res.Next - 1
		}
	}
	return v, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// renderLines renders stored lines as safe HTML.
func renderLines(evs []logs.Event) []components.LogLine {
	out := make([]components.LogLine, len(evs))
	for i, ev := range evs {
		out[i] = components.LogLine{N: ev.Line, HTML: termhtml.Line(ev.Text)}
	}
	return out
}

// logSections groups consecutive lines by the step that printed them;
// lines outside every step form sections of their own. logview.js groups
// the lines it adds by the same rules (stepOf there).
func logSections(steps []components.LogStep, lines []components.LogLine) []components.LogSection {
	var out []components.LogSection
	for _, l := range lines {
		s := stepOf(steps, l.N)
		if n := len(out); n > 0 && out[n-1].Step == s {
			out[n-1].Lines = append(out[n-1].Lines, l)
			continue
		}
		out = append(out, components.LogSection{Step: s, Lines: []components.LogLine{l}})
	}
	return out
}

// stepOf returns the step that printed line n, or nil. A step owns
// First..Last; a running step owns from First up to the next step's first
// line (its Last is not final yet); a finished step with Last below First
// printed nothing.
func stepOf(steps []components.LogStep, n int) *components.LogStep {
	var best *components.LogStep
	for i := range steps {
		s := &steps[i]
		if s.First > 0 && s.First <= n && (best == nil || s.First >= best.First) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	if best.Status == models.StepRunning {
		return best
	}
	if n <= best.Last {
		return best
	}
	return nil
}

// linesPage is the answer of /log/lines: rendered lines from From.
type linesPage struct {
	From   int      `json:"from"`
	Lines  []string `json:"lines"`
	Total  int      `json:"total"`
	Closed bool     `json:"closed"`
	Status string   `json:"status,omitempty"`
}

// logLines answers GET …/log/lines?from=&limit= with rendered lines; with
// no from it returns the last limit lines (the tail).
func (h *Handler) logLines(c echo.Context, t logTarget) error {
	ctx := c.Request().Context()
	limit := components.LogPageLines
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLinesPage {
			return badRequest(fmt.Sprintf("limit must be between 1 and %d", maxLinesPage))
		}
		limit = n
	}
	var p logs.Page
	var err error
	if v := c.QueryParam("from"); v != "" {
		from, perr := strconv.Atoi(v)
		if perr != nil || from < 1 {
			return badRequest("from must be a line number (1 or more)")
		}
		p, err = h.logs.Read(ctx, t.Stream, from, limit)
	} else {
		p, err = h.logs.Tail(ctx, t.Stream, limit)
	}
	if err != nil {
		return err
	}
	out := linesPage{From: p.Next - len(p.Lines), Lines: make([]string, len(p.Lines)), Total: p.Total, Closed: p.Closed}
	if p.Closed {
		out.Status = p.Status
	}
	for i, ev := range p.Lines {
		out.Lines[i] = termhtml.Line(ev.Text)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, out)
}

// searchResult is the answer of /log/search.
type searchResult struct {
	Query   string `json:"query"`
	Matches []int  `json:"matches"`
	// Next is the line to continue from when Done is false.
	Next int  `json:"next"`
	Done bool `json:"done"`
}

// logSearch answers GET …/log/search?q=&from= with the numbers of the
// lines containing q (case-insensitive, colours ignored). One request
// reads at most searchScanLines lines and returns at most
// maxSearchMatches matches; Done false says to ask again from Next.
func (h *Handler) logSearch(c echo.Context, t logTarget) error {
	q := c.QueryParam("q")
	if strings.TrimSpace(q) == "" {
		return badRequest("q must not be empty")
	}
	if len(q) > 200 {
		return badRequest("q must be at most 200 bytes")
	}
	from := 1
	if v := c.QueryParam("from"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("from must be a line number (1 or more)")
		}
		from = n
	}
	res, err := h.searchLog(c.Request().Context(), t.Stream, q, from, maxSearchMatches)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, res)
}

// searchLog scans the stored stream from line from for lines containing q.
func (h *Handler) searchLog(ctx context.Context, stream, q string, from, limit int) (searchResult, error) {
	res := searchResult{Query: q, Matches: []int{}, Next: from}
	needle := strings.ToLower(q)
	scanned := 0
	for {
		p, err := h.logs.Read(ctx, stream, res.Next, logs.MaxReadLines)
		if err != nil {
			return searchResult{}, err
		}
		for _, ev := range p.Lines {
			if strings.Contains(strings.ToLower(termhtml.Plain(ev.Text)), needle) {
				res.Matches = append(res.Matches, ev.Line)
			}
			res.Next = ev.Line + 1
			scanned++
			if len(res.Matches) >= limit {
				return res, nil
			}
		}
		if len(p.Lines) == 0 || res.Next > p.Total {
			res.Done = true
			return res, nil
		}
		if scanned >= searchScanLines {
			return res, nil
		}
	}
}

// logText sends the whole stored log as plain text, one line per line
// (line 1 first), as its owner printed it (colour codes included). As an
// attachment it is the viewer's raw download (…/log.txt); inline it is
// the API's log (/api/v1/…/log).
func (h *Handler) logText(c echo.Context, t logTarget, st logState, attachment bool) error {
	ctx := c.Request().Context()
	p, err := h.logs.Read(ctx, t.Stream, 1, logs.MaxReadLines)
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	hd.Set(echo.HeaderCacheControl, "no-store")
	hd.Set("X-Slipway-Log-Truncated", strconv.FormatBool(p.Truncated))
	if t.StatusHeader != "" {
		hd.Set(t.StatusHeader, st.Status)
	}
	if attachment {
		hd.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": t.FileName}))
	}
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(c.Response(), 64<<10)
	for {
		for _, ev := range p.Lines {
			w.WriteString(ev.Text)
			w.WriteByte('\n')
		}
		if len(p.Lines) == 0 || p.Next > p.Total {
			break
		}
		if p, err = h.logs.Read(ctx, t.Stream, p.Next, logs.MaxReadLines); err != nil {
			// Headers are out: all that is left is to end the body early.
			h.log.Warn("log text", "stream", t.Stream, "err", err)
			break
		}
	}
	_ = w.Flush() // a failure here means the client went away
	return nil
}
