package logs

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/models"
)

// MaxReadLines is the most lines one Read returns.
const MaxReadLines = 10000

// Page is a slice of a stream read from the store.
type Page struct {
	// Lines holds consecutive lines (End is always nil).
	Lines []Event
	// Next is the number of the line to read next.
	Next int
	// Total is the number of lines stored so far.
	Total     int
	Closed    bool
	Status    string
	Truncated bool
}

// AtEnd reports whether the page reaches the end of a finished stream.
func (p Page) AtEnd() bool { return p.Closed && p.Next > p.Total }

// Read returns up to limit stored lines starting at line from (limit ≤ 0
// or above MaxReadLines means MaxReadLines). A stream that does not exist
// yet reads as empty and open.
func (s *Service) Read(ctx context.Context, stream string, from, limit int) (Page, error) {
	from = max(from, 1)
	if limit <= 0 || limit > MaxReadLines {
		limit = MaxReadLines
	}
	p := Page{Next: from}
	// The summary is read first: if it says closed, every line is stored.
	ls, err := s.store.LogStream(ctx, stream)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return p, nil
	case err != nil:
		return Page{}, fmt.Errorf("logs: read %s: %w", stream, err)
	}
	p.Total, p.Closed, p.Status, p.Truncated = ls.Lines, ls.Closed, ls.Status, ls.Truncated
	for len(p.Lines) < limit {
		chunks, err := s.store.LogChunks(ctx, stream, p.Next, readChunks)
		if err != nil {
			return Page{}, fmt.Errorf("logs: read %s: %w", stream, err)
		}
		before := len(p.Lines)
		for _, c := range chunks {
			lines, err := chunkLines(c)
			if err != nil {
				return Page{}, err
			}
			for i, text := range lines {
				n := c.FirstLine + i
				if n < p.Next {
					continue
				}
				if n != p.Next || len(p.Lines) == limit {
					break
				}
				p.Lines = append(p.Lines, Event{Line: n, Text: text})
				p.Next++
			}
		}
		if len(p.Lines) == before {
			break
		}
	}
	if len(p.Lines) > 0 {
		// The summary may lag the chunks just read; never report less.
		p.Total = max(p.Total, p.Next-1)
	}
	return p, nil
}

// Tail returns the last n stored lines of stream (n as limit in Read).
func (s *Service) Tail(ctx context.Context, stream string, n int) (Page, error) {
	if n <= 0 || n > MaxReadLines {
		n = MaxReadLines
	}
	ls, err := s.store.LogStream(ctx, stream)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return Page{Next: 1}, nil
	case err != nil:
		return Page{}, fmt.Errorf("logs: tail %s: %w", stream, err)
	}
	return s.Read(ctx, stream, ls.Lines-n+1, n)
}
