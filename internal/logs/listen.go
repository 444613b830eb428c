package logs

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen opens a dedicated connection LISTENing on Channel.
func (s *Service) listen(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, s.store.DSN())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// listenLoop wakes local subscribers of streams flushed by other
// processes, reconnecting with backoff when the connection drops.
func (s *Service) listenLoop(ctx context.Context, conn *pgx.Conn) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	defer func() {
		s.listening.Store(false)
		if conn != nil {
			closeConn(conn)
		}
	}()
	for {
		if conn == nil {
			c, err := s.listen(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("logs: listener reconnect failed", slog.Any("err", err), slog.Duration("retry_in", backoff))
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
			s.listening.Store(true)
			// Flushes announced while we were away were missed.
			s.wakeAll()
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			closeConn(conn)
			conn = nil
			s.listening.Store(false)
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("logs: listener connection lost", slog.Any("err", err))
			// Waiting subscribers switch to polling until we are back.
			s.wakeAll()
			continue
		}
		s.dispatch(n.Payload)
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// dispatch wakes the subscribers of the stream a notification names.
func (s *Service) dispatch(payload string) {
	var n notice
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		s.log.Warn("logs: bad notification", slog.String("payload", payload), slog.Any("err", err))
		return
	}
	t := s.lookup(n.Stream)
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.writer != nil {
		// Our own flush: local subscribers already have the lines.
		t.mu.Unlock()
		return
	}
	if t.end != nil && n.Line > t.end.Lines {
		// Closed here, reopened elsewhere: forget the local ending so
		// subscribers follow the store again.
		t.end, t.lines, t.bytes = nil, nil, 0
	}
	ws := t.takeWaitersLocked()
	t.mu.Unlock()
	wake(ws)
}
