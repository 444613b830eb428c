package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AppendLogChunk stores the next chunk of a stream; a chunk whose
// (stream, seq) is taken returns ErrConflict.
func (s *Store) AppendLogChunk(ctx context.Context, c *LogChunk) error {
	if c.Data == nil {
		// A chunk of one empty line has empty data, which is not NULL.
		c.Data = []byte{}
	}
	return wrap("append log chunk", s.db.WithContext(ctx).Create(c).Error)
}

// LogChunks returns up to maxChunks chunks of stream in line order, starting
// with the chunk that holds line fromLine (or the first one after it).
func (s *Store) LogChunks(ctx context.Context, stream string, fromLine, maxChunks int) ([]LogChunk, error) {
	if maxChunks <= 0 {
		maxChunks = 16
	}
	// Chunks are contiguous, so the one holding fromLine is the last one
	// starting at or before it; the subquery finds it through the
	// (stream, first_line) index instead of scanning the stream.
	start := s.db.Model(&LogChunk{}).Select("COALESCE(MAX(first_line), 0)").
		Where("stream = ? AND first_line <= ?", stream, fromLine)
	var cs []LogChunk
	err := s.db.WithContext(ctx).
		Where("stream = ? AND first_line >= (?) AND first_line + line_count > ?", stream, start, fromLine).
		Order("first_line").Limit(maxChunks).Find(&cs).Error
	return cs, wrap("log chunks", err)
}

// LastLogChunk returns the stream's chunk with the highest sequence number.
func (s *Store) LastLogChunk(ctx context.Context, stream string) (*LogChunk, error) {
	var c LogChunk
	if err := s.db.WithContext(ctx).Where("stream = ?", stream).Order("seq DESC").First(&c).Error; err != nil {
		return nil, wrap("last log chunk", err)
	}
	return &c, nil
}

// DeleteLogStream removes a stream's chunks and summary.
func (s *Store) DeleteLogStream(ctx context.Context, stream string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("stream = ?", stream).Delete(&LogChunk{}).Error; err != nil {
			return err
		}
		return tx.Where("stream = ?", stream).Delete(&LogStream{}).Error
	})
	return wrap("delete log stream", err)
}

// LogStream returns the summary of a stream.
func (s *Store) LogStream(ctx context.Context, stream string) (*LogStream, error) {
	var ls LogStream
	if err := s.db.WithContext(ctx).Where("stream = ?", stream).First(&ls).Error; err != nil {
		return nil, wrap("log stream", err)
	}
	return &ls, nil
}

// UpsertLogStream creates or replaces the summary of ls.Stream.
func (s *Store) UpsertLogStream(ctx context.Context, ls *LogStream) error {
	ls.UpdatedAt = time.Now().UTC()
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "stream"}},
		DoUpdates: clause.AssignmentColumns([]string{"lines", "bytes", "truncated", "closed", "status", "updated_at"}),
	}).Create(ls).Error
	return wrap("upsert log stream", err)
}

// NotifyLogs sends payload on a PostgreSQL NOTIFY channel so other
// processes learn of new log lines. Inside Tx it is delivered at commit;
// on SQLite (one process) it does nothing.
func (s *Store) NotifyLogs(ctx context.Context, channel, payload string) error {
	if s.dialect != Postgres {
		return nil
	}
	return wrap("notify logs", s.db.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", channel, payload).Error)
}
