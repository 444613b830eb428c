package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

func migration0002LogChunks() *gormigrate.Migration {
	type LogChunk struct {
		ID int64 `gorm:"primaryKey"`
		// (stream, seq) is unique and orders a stream's chunks;
		// (stream, first_line) finds the chunk holding a line.
		Stream    string `gorm:"size:200;not null;uniqueIndex:idx_log_chunks_stream_seq,priority:1;index:idx_log_chunks_stream_first_line,priority:1"`
		Seq       int    `gorm:"not null;uniqueIndex:idx_log_chunks_stream_seq,priority:2"`
		FirstLine int    `gorm:"not null;index:idx_log_chunks_stream_first_line,priority:2"`
		LineCount int    `gorm:"not null"`
		Data      []byte `gorm:"not null"`
		CreatedAt time.Time
	}
	type LogStream struct {
		Stream    string `gorm:"primaryKey;size:200"`
		Lines     int    `gorm:"not null;default:0"`
		Bytes     int64  `gorm:"not null;default:0"`
		Truncated bool   `gorm:"not null;default:false"`
		Closed    bool   `gorm:"not null;default:false"`
		Status    string `gorm:"size:64;not null;default:''"`
		UpdatedAt time.Time
	}
	return &gormigrate.Migration{
		ID: "0002_log_chunks",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&LogChunk{}, &LogStream{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("log_streams", "log_chunks")
		},
	}
}
