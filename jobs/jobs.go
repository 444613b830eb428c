// Package jobs holds River job arguments and workers and owns the River
// client: on SQLite through its own single-connection pool, on PostgreSQL
// through the app's pool with LISTEN/NOTIFY for instant pickup. Jobs are
// inserted in the same transaction as the rows they work on.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/dora"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/notify"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/models"
)

// Queue names.
const (
	QueueMaintenance = river.QueueDefault
	QueueBuilds      = "builds"
	QueueDeploys     = "deploys"
	QueueLoadTests   = "loadtests"
)

// Options tunes the River client.
type Options struct {
	// Work says whether this process works jobs (serve with in-process
	// workers, or worker); false gives an insert-only client.
	Work bool
	// BuildWorkers is the builds queue's concurrency (default 2).
	BuildWorkers int
	// Logger receives River's own logs (warnings and up).
	Logger *slog.Logger
	// MaintenanceEvery is the period of the maintenance job (default 10m).
	MaintenanceEvery time.Duration
}

// Deps are what workers need; every field is optional until a worker uses it.
type Deps struct {
	Store  *models.Store
	Logger *slog.Logger
	// Logs receives deploy logs (and build logs) and load-test
	// windows (one JSON line per second).
	Logs *logs.Service
	// Artifacts is where build artifacts are kept (default:
	// <DataDir>/artifacts).
	Artifacts *artifact.Store
	// Deploy runs the environments' edges and app instances: an
	// in-process *deploy.Manager or a client of `slipway edge`. Only the
	// process that drives it (slipway serve) works the deploys queue; nil
	// means this process runs no deploys.
	Deploy DeployEngine
	// Secrets opens secrets sealed at rest (environment secrets, deploy
	// keys); nil when this process has no secret key (a worker without
	// SLIPWAY_SECRET_KEY), which refuses them.
	Secrets SecretBox

	// DataDir holds repos/ (one bare mirror per project) and, unless
	// Artifacts is set, artifacts/. Builds and CreateBuild need it.
	DataDir string
	// WorkspaceDir is where each build gets its fresh workspace (default:
	// the system temp dir). It must lie outside DataDir: builds run
	// untrusted code and must not reach the database or other artifacts.
	WorkspaceDir string
	// Sandbox says whether steps run in bubblewrap (auto when empty).
	Sandbox runner.SandboxMode
	// MaxBuildProcs bounds the processes and threads of one build
	// (runner.Spec.MaxProcs); zero means no bound.
	MaxBuildProcs int
	// BuildCacheMax caps the bytes of all build caches together; the
	// least recently used are evicted after a build, other refs' before
	// any default branch's. Zero means no cap.
	BuildCacheMax int64
	// DeployKey opens a project's sealed deploy key for git over ssh.
	// Nil means deploy keys cannot be used yet: a project that has one
	// gets a clear error instead of a build. Projects without a key never
	// call it.
	DeployKey func(ctx context.Context, p *models.Project) ([]byte, error)
	// RepoNetworks are non-public networks every project's repository may
	// reach (an admin setting: an internal git server). Loopback, private
	// and link-local addresses are otherwise only for repositories an
	// admin linked.
	RepoNetworks []netip.Prefix
	// LoadTestGate checks a promotion's load-test requirement; nil means
	// Store.LoadTestGate: a passing load test of the artifact in the
	// promotion's source environment.
	LoadTestGate policy.LoadTestGate

	// Mailer sends email notifications; nil means email endpoints fail
	// with ErrNoMailer.
	Mailer *notify.Mailer
	// PublicURL is the portal's base URL for links in notifications.
	PublicURL string
	// NotifyNetworks are non-public networks every notification endpoint
	// may reach (an admin setting); loopback and private addresses are
	// otherwise only for endpoints an admin created.
	NotifyNetworks []netip.Prefix
	// NotifySchedule overrides the retry schedule (notify.Schedule) and
	// NotifyTimeout the per-attempt timeout (tests).
	NotifySchedule []time.Duration
	NotifyTimeout  time.Duration
}

// DeployEngine is what the deploy jobs drive: deploy.Engine, plus where
// releases and work dirs are and how apps are sandboxed. *deploy.Manager
// (in process) and *edge.Client (a `slipway edge`) implement it.
type DeployEngine interface {
	deploy.Engine
	ReleaseDir(digest string) (string, error)
	WorkDir(env string) string
	Sandbox() (sandboxed bool, notice string, err error)
}

// Jobs wraps the River client.
type Jobs struct {
	client  *river.Client[*sql.Tx]
	riverDB *sql.DB
	pool    *pgxpool.Pool
	work    bool
	log     *slog.Logger
	deps    Deps
	// delivery runs the delivery actions the workers start (auto-deploy,
	// the promotion sweep); see UseDelivery.
	delivery *delivery.Service
	// workerID names this process in builds it runs (host/pid/start), so
	// a restarted process can tell which builds lost their worker.
	workerID string
	dora     *dora.Service
	// outputs keeps the output positions of an edge process's releases
	// (nil for an in-process engine).
	outputs *outputMarks
}

// driverFor builds River's driver for the store's database. The returned
// closer releases what was opened for River alone.
func driverFor(ctx context.Context, store *models.Store) (riverdriver.Driver[*sql.Tx], *sql.DB, *pgxpool.Pool, error) {
	switch store.Dialect() {
	case models.SQLite:
		// River gets its own pool with a single connection: SQLite has one
		// writer and River's producer and maintenance services write often.
		db, err := sql.Open("sqlite", store.DSN())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("jobs: open river sqlite pool: %w", err)
		}
		db.SetMaxOpenConns(1)
		return riversqlite.New(db), db, nil, nil
	case models.Postgres:
		cfg, err := pgxpool.ParseConfig(store.DSN())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("jobs: parse database url: %w", err)
		}
		cfg.MaxConns = 4
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("jobs: open listener pool: %w", err)
		}
		return riverdatabasesql.NewWithPgxListener(store.SQLDB(), pool), nil, pool, nil
	}
	return nil, nil, nil, fmt.Errorf("jobs: unsupported dialect %q", store.Dialect())
}

// Migrate applies River's own migrations.
func Migrate(ctx context.Context, store *models.Store) error {
	drv, db, pool, err := driverFor(ctx, store)
	if err != nil {
		return err
	}
	defer closeAll(db, pool)
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: river migrate: %w", err)
	}
	return nil
}

func closeAll(db *sql.DB, pool *pgxpool.Pool) {
	if db != nil {
		db.Close()
	}
	if pool != nil {
		pool.Close()
	}
}

// New builds the River client with every worker registered.
func New(ctx context.Context, deps Deps, opts Options) (*Jobs, error) {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.LoadTestGate == nil && deps.Store != nil {
		deps.LoadTestGate = deps.Store.LoadTestGate
	}
	if opts.Logger == nil {
		opts.Logger = deps.Logger
	}
	if opts.BuildWorkers <= 0 {
		opts.BuildWorkers = 2
	}
	if opts.MaintenanceEvery <= 0 {
		opts.MaintenanceEvery = 10 * time.Minute
	}
	if deps.WorkspaceDir != "" && deps.DataDir != "" && within(deps.WorkspaceDir, deps.DataDir) {
		return nil, fmt.Errorf("jobs: workspace dir %s is inside the data dir %s: builds must not reach the data dir", deps.WorkspaceDir, deps.DataDir)
	}
	if deps.DeployKey == nil && deps.Secrets != nil {
		box := deps.Secrets
		deps.DeployKey = func(_ context.Context, p *models.Project) ([]byte, error) {
			return box.Open(p.DeployKeySealed, p.DeployKeyAD())
		}
	}
	if deps.Artifacts == nil && deps.DataDir != "" {
		as, err := artifact.NewStore(filepath.Join(deps.DataDir, "artifacts"))
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		deps.Artifacts = as
	}
	j := &Jobs{work: opts.Work, log: deps.Logger, deps: deps, workerID: newWorkerID()}
	j.delivery = delivery.New(j.DeliveryDeps())
	j.dora = dora.NewService(deps.Store, j.repoDirOrEmpty)
	drv, db, pool, err := driverFor(ctx, deps.Store)
	if err != nil {
		return nil, err
	}
	cfg := &river.Config{
		ID:                   j.workerID,
		Logger:               riverLogger(opts.Logger),
		JobTimeout:           -1, // workers set their own timeouts
		RescueStuckJobsAfter: 24 * time.Hour,
		FetchCooldown:        20 * time.Millisecond,
		FetchPollInterval:    500 * time.Millisecond,
	}
	if deps.Store.Dialect() == models.SQLite {
		// SQLite has no LISTEN; poll often so new jobs start quickly.
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	if opts.Work {
		workers := river.NewWorkers()
		registerWorkers(workers, j)
		river.AddWorker(workers, &PromotionSweepWorker{jobs: j})
		river.AddWorker(workers, &DORARollupWorker{svc: j.dora, log: j.log, now: func() time.Time { return time.Now().UTC() }})
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{
			QueueMaintenance: {MaxWorkers: 2},
			QueueBuilds:      {MaxWorkers: opts.BuildWorkers},
			QueueLoadTests:   {MaxWorkers: 1},
			QueueNotify:      {MaxWorkers: 4},
		}
		if deps.Deploy != nil {
			// Deploys run where the edges run; a deploy waiting for its
			// environment snoozes, so a few workers suffice.
			cfg.Queues[QueueDeploys] = river.QueueConfig{MaxWorkers: 4}
		}
		cfg.PeriodicJobs = append(periodicJobs(opts), promotionSweepJob(), doraRollupJob())
	}
	client, err := river.NewClient(drv, cfg)
	if err != nil {
		closeAll(db, pool)
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	j.client, j.riverDB, j.pool = client, db, pool
	if src, ok := deps.Deploy.(positionSource); ok && opts.Work && deps.DataDir != "" {
		j.outputs = newOutputMarks(deps.DataDir, src, deps.Logger)
	}
	// Events the store records from now on enqueue their deliveries with
	// this client, in their own transactions.
	deps.Store.SetNotifyHooks(j.notifyHooks())
	return j, nil
}

// registerWorkers adds every worker the app has.
func registerWorkers(w *river.Workers, j *Jobs) {
	river.AddWorker(w, &MaintenanceWorker{store: j.deps.Store, log: j.deps.Logger})
	river.AddWorker(w, &BuildWorker{j: j})
	river.AddWorker(w, &BuildReaperWorker{j: j})
	if j.deps.Deploy != nil {
		river.AddWorker(w, &DeployWorker{deps: j.deps, j: j})
		river.AddWorker(w, &ScaleWorker{deps: j.deps})
	}
	river.AddWorker(w, &LoadTestWorker{deps: j.deps, j: j})
	river.AddWorker(w, &LoadTestReaperWorker{j: j})
	river.AddWorker(w, &NotifyWorker{j: j})
	river.AddWorker(w, &PollWorker{j: j, store: j.deps.Store, secrets: j.deps.Secrets, log: j.deps.Logger})
}

func periodicJobs(opts Options) []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(opts.MaintenanceEvery),
			func() (river.JobArgs, *river.InsertOpts) { return MaintenanceArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(buildReapEvery),
			func() (river.JobArgs, *river.InsertOpts) { return BuildReaperArgs{}, nil }, nil),
		river.NewPeriodicJob(river.PeriodicInterval(loadTestReapEvery),
			func() (river.JobArgs, *river.InsertOpts) { return LoadTestReaperArgs{}, nil }, nil),
		river.NewPeriodicJob(river.PeriodicInterval(PollEvery),
			func() (river.JobArgs, *river.InsertOpts) { return PollArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}),
	}
}

// UseDelivery makes the workers call d (the service the handlers use)
// instead of the one New built. Call it before Start.
func (j *Jobs) UseDelivery(d *delivery.Service) { j.delivery = d }

// Delivery is the delivery service the workers call.
func (j *Jobs) Delivery() *delivery.Service { return j.delivery }

// DeliveryDeps are the delivery service's dependencies as this process
// has them, with j as its queue, for building the service in one place.
func (j *Jobs) DeliveryDeps() delivery.Deps {
	return delivery.Deps{Store: j.deps.Store, Queue: j, Logger: j.deps.Logger,
		// Asked through j, so a gate set on the deps later is the one used.
		LoadTestGate: func(ctx context.Context, envID int64, sha string) (bool, string, error) {
			if j.deps.LoadTestGate == nil {
				return policy.NoLoadTestGate(ctx, envID, sha)
			}
			return j.deps.LoadTestGate(ctx, envID, sha)
		},
		MirrorDir: func(projectID int64) string { return mirrorDir(j.deps, projectID) }}
}

// Start starts working jobs (no-op for an insert-only client).
func (j *Jobs) Start(ctx context.Context) error {
	if !j.work {
		return nil
	}
	// Builds whose process died (kill -9, power loss) are finished as
	// interrupted before this process takes new work, and processes
	// their steps left behind on this machine are stopped.
	if err := j.RecoverBuilds(ctx); err != nil {
		j.log.Error("recover builds", slog.Any("err", err))
	}
	// Likewise load tests whose attack stopped with its process.
	if err := j.RecoverLoadTests(ctx); err != nil {
		j.log.Error("recover load tests", slog.Any("err", err))
	}
	if err := j.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops fetching, waits for running jobs until ctx ends, then cancels
// what is left, and releases River's pools.
func (j *Jobs) Stop(ctx context.Context) error {
	var err error
	if j.work {
		if err = j.client.Stop(ctx); err != nil && errors.Is(err, context.DeadlineExceeded) {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = j.client.StopAndCancel(cctx)
			cancel()
		}
	}
	// After the workers: the last positions name the lines their
	// deploys stored too.
	j.outputs.close()
	closeAll(j.riverDB, j.pool)
	if err != nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}

// InsertTx enqueues a job in tx, the transaction of a Store from
// models.Store.Tx, so the job exists exactly when the row does.
func (j *Jobs) InsertTx(ctx context.Context, tx *models.Store, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	sqlTx, ok := tx.SQLTx()
	if !ok {
		return nil, errors.New("jobs: insert: store is not in a transaction")
	}
	res, err := j.client.InsertTx(ctx, sqlTx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("jobs: insert %s: %w", args.Kind(), err)
	}
	return res, nil
}

// Insert enqueues a job outside any transaction.
func (j *Jobs) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	res, err := j.client.Insert(ctx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("jobs: insert %s: %w", args.Kind(), err)
	}
	return res, nil
}

// Client exposes the River client for subscriptions and job control.
func (j *Jobs) Client() *river.Client[*sql.Tx] { return j.client }

// riverLogger quiets River to warnings and above.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{h: l.Handler(), min: slog.LevelWarn})
}

type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(n), min: f.min}
}

// within reports whether dir is dir root or inside it (after making both
// absolute and resolving symlinks where they exist).
func within(dir, root string) bool {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		if r, err := filepath.EvalSymlinks(a); err == nil {
			return r
		}
		return a
	}
	rel, err := filepath.Rel(abs(root), abs(dir))
	return err == nil && (rel == "." || (rel != ".." && !strings.HasPrefix(rel, "../")))
}
