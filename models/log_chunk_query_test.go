package models

import (
	"context"
	"errors"
	"testing"
)

func TestLogChunks(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.LastLogChunk(ctx, "build:1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("last chunk of an empty stream: got %v, want ErrNotFound", err)
		}
		// Three chunks: lines 1-3, 4 (an empty line), 5-6; another stream
		// interleaved must never leak in.
		chunks := []LogChunk{
			{Stream: "build:1", Seq: 1, FirstLine: 1, LineCount: 3, Data: []byte("a\n\x1b[31mb\x1b[0m\nc")},
			{Stream: "build:1", Seq: 2, FirstLine: 4, LineCount: 1, Data: nil},
			{Stream: "build:10", Seq: 1, FirstLine: 1, LineCount: 1, Data: []byte("other")},
			{Stream: "build:1", Seq: 3, FirstLine: 5, LineCount: 2, Data: []byte("e\nf")},
		}
		for i := range chunks {
			if err := s.AppendLogChunk(ctx, &chunks[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AppendLogChunk(ctx, &LogChunk{Stream: "build:1", Seq: 2, FirstLine: 7, LineCount: 1, Data: []byte("x")}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate seq: got %v, want ErrConflict", err)
		}

		tests := []struct {
			name      string
			from, max int
			wantSeqs  []int
		}{
			{"reading from line 1 returns every chunk", 1, 10, []int{1, 2, 3}},
			{"reading from inside a chunk starts with that chunk", 2, 10, []int{1, 2, 3}},
			{"reading from a chunk's first line skips the ones before", 4, 10, []int{2, 3}},
			{"reading from the last line returns the last chunk", 6, 10, []int{3}},
			{"reading past the end returns nothing", 7, 10, nil},
			{"max chunks limits the answer", 1, 2, []int{1, 2}},
			{"line zero reads from the start", 0, 10, []int{1, 2, 3}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.LogChunks(ctx, "build:1", tc.from, tc.max)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []int
				for _, c := range got {
					seqs = append(seqs, c.Seq)
				}
				if len(seqs) != len(tc.wantSeqs) {
					t.Fatalf("seqs %v, want %v", seqs, tc.wantSeqs)
				}
				for i := range seqs {
					if seqs[i] != tc.wantSeqs[i] {
						t.Fatalf("seqs %v, want %v", seqs, tc.wantSeqs)
					}
				}
			})
		}

		all, err := s.LogChunks(ctx, "build:1", 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if string(all[0].Data) != "a\n\x1b[31mb\x1b[0m\nc" || len(all[1].Data) != 0 || all[2].LastLine() != 6 {
			t.Fatalf("chunk contents changed on the way: %q %v %d", all[0].Data, all[1].Data, all[2].LastLine())
		}
		last, err := s.LastLogChunk(ctx, "build:1")
		if err != nil || last.Seq != 3 || last.LastLine() != 6 {
			t.Fatalf("last chunk: %+v %v", last, err)
		}

		if _, err := s.LogStream(ctx, "build:1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing stream summary: got %v, want ErrNotFound", err)
		}
		if err := s.UpsertLogStream(ctx, &LogStream{Stream: "build:1", Lines: 3, Bytes: 12}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertLogStream(ctx, &LogStream{Stream: "build:1", Lines: 6, Bytes: 20, Truncated: true, Closed: true, Status: "failed"}); err != nil {
			t.Fatal(err)
		}
		ls, err := s.LogStream(ctx, "build:1")
		if err != nil {
			t.Fatal(err)
		}
		if ls.Lines != 6 || ls.Bytes != 20 || !ls.Truncated || !ls.Closed || ls.Status != "failed" || ls.UpdatedAt.IsZero() {
			t.Fatalf("upsert must replace the summary, got %+v", ls)
		}

		if err := s.DeleteLogStream(ctx, "build:1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LastLogChunk(ctx, "build:1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted stream still has chunks: %v", err)
		}
		if _, err := s.LogStream(ctx, "build:1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted stream still has a summary: %v", err)
		}
		if other, err := s.LogChunks(ctx, "build:10", 1, 10); err != nil || len(other) != 1 || string(other[0].Data) != "other" {
			t.Fatalf("deleting one stream touched another: %v %v", other, err)
		}
	})
}

func TestNotifyLogsIsHarmless(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		err := s.Tx(ctx, func(tx *Store) error { return tx.NotifyLogs(ctx, "slipway_logs", `{"s":"build:1","l":3}`) })
		if err != nil {
			t.Fatal(err)
		}
	})
}
