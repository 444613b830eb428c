package models

import "time"

// LogChunk is a batch of consecutive lines of one log stream. Data holds
// the lines joined with "\n" (already masked); FirstLine is 1-based.
type LogChunk struct {
	ID        int64
	Stream    string
	Seq       int
	FirstLine int
	LineCount int
	Data      []byte
	CreatedAt time.Time
}

// LastLine returns the number of the chunk's last line.
func (c LogChunk) LastLine() int { return c.FirstLine + c.LineCount - 1 }

// LogStream summarizes one log stream so "is it finished, truncated, how
// long" is one query. It is written in the same transaction as the chunks.
type LogStream struct {
	Stream    string `gorm:"primaryKey"`
	Lines     int
	Bytes     int64
	Truncated bool
	Closed    bool
	Status    string
	UpdatedAt time.Time
}
