package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/static"
)

// Register installs middleware, the error handler and every route on e.
func (h *Handler) Register(e *echo.Echo) {
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.handleError
	e.IPExtractor = h.ipExtractor()
	// Git smart HTTP for hosted repositories (git_http.go explains why it
	// runs ahead of the UI's middleware).
	e.Pre(h.gitPre)
	e.Use(h.metrics.middleware)
	e.Use(middleware.RequestID())
	e.Use(h.recoverPanics)
	// Webhooks stream bodies up to their own larger cap (receiveHook).
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "1M",
		Skipper: func(c echo.Context) bool { return c.Path() == "/hooks/:slug" }}))
	e.Use(h.securityHeaders)
	e.Use(h.authenticate)
	e.Use(h.csrf)

	// Assets: content-hashed names, cached for a year.
	e.GET(static.Prefix+"*", h.serveAsset, h.require(auth.Public))
	h.perms[http.MethodGet+" "+static.Prefix+"*"] = auth.Public

	// Operations.
	h.add(e, http.MethodGet, "/healthz", auth.Public, h.healthz)
	h.add(e, http.MethodGet, "/favicon.ico", auth.Public, h.favicon)
	h.add(e, http.MethodGet, "/metrics", auth.Public, h.serveMetrics)

	// Sign in and out.
	h.add(e, http.MethodGet, "/login", auth.Public, h.showLogin)
	h.add(e, http.MethodPost, "/login", auth.Public, h.login)
	h.add(e, http.MethodPost, "/logout", auth.Authenticated, h.logout)

	// Pages.
	h.add(e, http.MethodGet, "/", auth.Authenticated, h.showDashboard)
	h.add(e, http.MethodGet, "/dashboard/home", auth.Authenticated, h.refreshDashboardHome)
	h.add(e, http.MethodGet, "/profile", auth.Authenticated, h.showProfile)
	h.add(e, http.MethodPost, "/profile/tokens", auth.Authenticated, h.createToken)
	h.add(e, http.MethodPost, "/profile/password", auth.Authenticated, h.changeOwnPassword)
	h.add(e, http.MethodPost, "/profile/tokens/:id/revoke", auth.Authenticated, h.revokeToken)
	h.add(e, http.MethodGet, "/projects", auth.ViewProjects, h.showProjects)
	h.add(e, http.MethodGet, "/projects/new", auth.CreateProject, h.showNewProject)
	h.add(e, http.MethodPost, "/projects", auth.CreateProject, h.createProject)
	h.add(e, http.MethodPost, "/projects/check", auth.CreateProject, h.checkProjectConnection)
	h.add(e, http.MethodGet, "/projects/:slug", auth.ViewProjects, h.showProject, h.loadProject)
	h.add(e, http.MethodGet, "/projects/:slug/branches", auth.ViewProjects, h.showProjectBranches, h.loadProject)
	h.add(e, http.MethodPost, "/projects/:slug/builds", auth.RunBuild, h.runProjectBuild, h.loadProject)
	h.add(e, http.MethodPost, "/projects/:slug/branch-protection", auth.ManageProject, h.updateBranchProtection, h.loadProject)
	h.add(e, http.MethodGet, "/projects/:slug/dora", auth.ViewProjects, h.showDORA, h.loadProject)

	// Notification endpoints (docs/notifications.md).
	nt := e.Group("/projects/:slug/notifications")
	h.add(nt, http.MethodGet, "", auth.ManageProject, h.showNotifications, h.loadProject)
	h.add(nt, http.MethodPost, "", auth.ManageProject, h.createNotificationEndpoint, h.loadProject)
	h.add(nt, http.MethodGet, "/:id", auth.ManageProject, h.showNotificationEndpoint, h.loadProject)
	h.add(nt, http.MethodPost, "/:id", auth.ManageProject, h.updateNotificationEndpoint, h.loadProject)
	h.add(nt, http.MethodPost, "/:id/rotate", auth.ManageProject, h.rotateNotificationSecret, h.loadProject)
	h.add(nt, http.MethodPost, "/:id/test", auth.ManageProject, h.sendTestNotification, h.loadProject)
	h.add(nt, http.MethodPost, "/:id/delete", auth.ManageProject, h.deleteNotificationEndpoint, h.loadProject)
	h.add(nt, http.MethodPost, "/:id/deliveries/:delivery/redeliver", auth.ManageProject, h.redeliverNotification, h.loadProject)

	// The web IDE (docs/ide.md).
	ide := e.Group("/projects/:slug/ide")
	h.add(ide, http.MethodGet, "", auth.ViewProjects, h.showIDE, h.loadProject)
	h.add(ide, http.MethodGet, "/tree", auth.ViewProjects, h.ideTree, h.loadProject)
	h.add(ide, http.MethodGet, "/file", auth.ViewProjects, h.ideFile, h.loadProject)
	h.add(ide, http.MethodGet, "/search", auth.ViewProjects, h.ideSearch, h.loadProject)
	h.add(ide, http.MethodPost, "/validate", auth.ViewProjects, h.ideValidate, h.loadProject)
	h.add(ide, http.MethodPost, "/commit", auth.PushCode, h.ideCommit, h.loadProject)
	h.add(ide, http.MethodGet, "/builds/:id", auth.ViewProjects, h.ideBuild, h.loadProject)
	h.add(e, http.MethodGet, "/environments", auth.ViewProjects, h.showEnvironments)
	h.add(e, http.MethodGet, "/approvals", auth.Authenticated, h.showApprovals)
	h.add(e, http.MethodGet, "/approvals/count", auth.Authenticated, h.approvalsCount)
	h.add(e, http.MethodGet, "/loadtests", auth.ViewProjects, h.showLoadTests)
	h.add(e, http.MethodGet, "/audit", auth.ViewAudit, h.showAudit)
	h.add(e, http.MethodGet, "/audit.csv", auth.ViewAudit, h.exportAudit)
	h.add(e, http.MethodGet, "/demo", auth.ManageDemo, h.showDemo)
	h.add(e, http.MethodPost, "/demo", auth.ManageDemo, h.createDemo)
	h.add(e, http.MethodPost, "/demo/ship", auth.ManageDemo, h.shipDemoChange)

	// Environments and releases.
	h.add(e, http.MethodPost, "/projects/:slug/environments", auth.ManageEnvironments, h.createEnvironment)
	envs := e.Group("/projects/:slug/environments/:env")
	h.add(envs, http.MethodGet, "", auth.ViewProjects, h.showEnvironment)
	h.add(envs, http.MethodGet, "/state", auth.ViewProjects, h.environmentState)
	h.add(envs, http.MethodGet, "/instances", auth.ViewProjects, h.environmentInstances)
	h.add(envs, http.MethodPost, "/scale", auth.ManageEnvironments, h.scaleEnvironment)
	h.add(envs, http.MethodPost, "/deploys", auth.DeployUnprotected, h.deployFromForm)
	h.add(envs, http.MethodPost, "/rollback", auth.DeployUnprotected, h.rollbackFromForm)
	h.add(envs, http.MethodPost, "/resume-auto-deploy", auth.ManageEnvironments, h.resumeAutoDeploy)
	h.add(envs, http.MethodGet, "/settings", auth.ManageEnvironments, h.showEnvironmentSettings)
	h.add(envs, http.MethodPost, "/settings", auth.ManageEnvironments, h.updateEnvironment)
	h.add(envs, http.MethodPost, "/variables", auth.ManageEnvironments, h.setVariable)
	h.add(envs, http.MethodPost, "/variables/delete", auth.ManageEnvironments, h.deleteVariable)
	h.add(envs, http.MethodPost, "/move", auth.ManageEnvironments, h.moveEnvironment)
	h.add(envs, http.MethodPost, "/delete", auth.ManageEnvironments, h.deleteEnvironment)
	h.add(envs, http.MethodPost, "/promote", auth.Promote, h.promoteFromForm)
	h.add(envs, http.MethodGet, "/policy", auth.ManageEnvironments, h.showPolicy)
	// The live app's output (stdout and stderr, masked), in the log viewer.
	appOutput := h.logRoutesFor(h.appOutputLog)
	h.add(envs, http.MethodGet, "/output/ws", auth.ViewProjects, appOutput.Socket, h.loadOutput)
	h.add(envs, http.MethodGet, "/output/lines", auth.ViewProjects, appOutput.Lines, h.loadOutput)
	h.add(envs, http.MethodGet, "/output/search", auth.ViewProjects, appOutput.Search, h.loadOutput)
	h.add(envs, http.MethodGet, "/output.txt", auth.ViewProjects, appOutput.Download, h.loadOutput)
	h.add(envs, http.MethodPost, "/policy", auth.ManageEnvironments, h.updatePolicy)

	// Promotions and approvals.
	h.add(e, http.MethodGet, "/promotions/:id", auth.ViewProjects, h.showPromotion)
	h.add(e, http.MethodPost, "/promotions/:id/approve", auth.Approve, h.decideFromForm(models.DecisionApprove))
	h.add(e, http.MethodPost, "/promotions/:id/reject", auth.Approve, h.decideFromForm(models.DecisionReject))
	h.add(e, http.MethodPost, "/promotions/:id/cancel", auth.Promote, h.cancelPromotionFromForm)
	h.add(e, http.MethodPost, "/promotions/:id/override-freeze", auth.OverrideFreeze, h.overrideFreezeFromForm)
	h.add(e, http.MethodGet, "/releases/:id", auth.ViewProjects, h.showRelease, h.loadRelease)

	// Builds. Routes of one build load it after the permission check
	// (h.loadBuild answers 404), so a role without the permission gets 403
	// whether or not the build exists.
	h.add(e, http.MethodGet, "/builds", auth.ViewProjects, h.showBuilds)
	h.add(e, http.MethodGet, "/builds/new", auth.RunBuild, h.showNewBuild)
	h.add(e, http.MethodPost, "/builds", auth.RunBuild, h.createBuild)
	h.add(e, http.MethodGet, "/builds/:id", auth.ViewProjects, h.showBuild, h.loadBuild)
	h.add(e, http.MethodGet, "/builds/:id/log", auth.ViewProjects, h.redirectBuildLog, h.loadBuild)
	h.add(e, http.MethodPost, "/builds/:id/cancel", auth.CancelBuild, h.cancelBuild, h.loadBuild)
	h.add(e, http.MethodGet, "/artifacts/:sha256", auth.ViewProjects, h.downloadArtifact)
	// Load tests.
	lt := e.Group("/loadtests")
	h.add(lt, http.MethodGet, "/plans/new", auth.RunLoadTest, h.newLoadTestPlan)
	h.add(lt, http.MethodPost, "/plans", auth.RunLoadTest, h.saveLoadTestPlan)
	h.add(lt, http.MethodGet, "/plans/:id/edit", auth.RunLoadTest, h.editLoadTestPlan)
	h.add(lt, http.MethodPost, "/plans/:id", auth.RunLoadTest, h.saveLoadTestPlan)
	h.add(lt, http.MethodPost, "/plans/:id/run", auth.RunLoadTest, h.runLoadTestPlan)
	h.add(lt, http.MethodGet, "/:id", auth.ViewProjects, h.showLoadTest)
	h.add(lt, http.MethodGet, "/:id/live", auth.ViewProjects, h.liveLoadTest)
	h.add(lt, http.MethodGet, "/:id/report.json", auth.ViewProjects, h.downloadLoadTestReport)
	h.add(lt, http.MethodGet, "/:id/compare", auth.ViewProjects, h.compareLoadTests)
	h.add(lt, http.MethodPost, "/:id/cancel", auth.RunLoadTest, h.cancelLoadTest)

	// The log viewers of the build and release pages: the live socket,
	// pages of lines, search and the raw download (docs/logs.md).
	buildLog, releaseLog := h.logRoutesFor(h.buildLog), h.logRoutesFor(h.releaseLog)
	h.add(e, http.MethodGet, "/builds/:id/log.txt", auth.ViewProjects, buildLog.Download, h.loadBuild)
	h.add(e, http.MethodGet, "/builds/:id/log/lines", auth.ViewProjects, buildLog.Lines, h.loadBuild)
	h.add(e, http.MethodGet, "/builds/:id/log/search", auth.ViewProjects, buildLog.Search, h.loadBuild)
	h.add(e, http.MethodGet, "/builds/:id/log/ws", auth.ViewProjects, buildLog.Socket, h.loadBuild)
	h.add(e, http.MethodGet, "/releases/:id/log.txt", auth.ViewProjects, releaseLog.Download, h.loadRelease)
	h.add(e, http.MethodGet, "/releases/:id/log/lines", auth.ViewProjects, releaseLog.Lines, h.loadRelease)
	h.add(e, http.MethodGet, "/releases/:id/log/search", auth.ViewProjects, releaseLog.Search, h.loadRelease)
	h.add(e, http.MethodGet, "/releases/:id/log/ws", auth.ViewProjects, releaseLog.Socket, h.loadRelease)

	// Administration.
	admin := e.Group("/admin")
	h.add(admin, http.MethodGet, "/users", auth.ManageUsers, h.showUsers)
	h.add(admin, http.MethodPost, "/users", auth.ManageUsers, h.createUser)
	h.add(admin, http.MethodPost, "/users/:id/role", auth.ManageUsers, h.setUserRole)
	h.add(admin, http.MethodPost, "/users/:id/disabled", auth.ManageUsers, h.setUserDisabled)
	h.add(admin, http.MethodPost, "/users/:id/password", auth.ManageUsers, h.resetPasswordFromForm)
	h.add(admin, http.MethodGet, "/loadtests", auth.ManageLoadTestLimits, h.showLoadTestLimits)
	h.add(admin, http.MethodPost, "/loadtests", auth.ManageLoadTestLimits, h.saveLoadTestLimits)

	// Forge webhooks: public, authenticated by the payload's signature.
	h.add(e, http.MethodPost, "/hooks/:slug", auth.Public, h.receiveHook, h.readDeadline(h.cfg.HookReadTimeout))

	// JSON API (bearer tokens).
	api := e.Group("/api/v1")
	h.add(api, http.MethodGet, "/projects", auth.ViewProjects, h.apiProjects)
	h.add(api, http.MethodPost, "/projects", auth.CreateProject, h.apiCreateProject)
	h.add(api, http.MethodGet, "/projects/:slug", auth.ViewProjects, h.apiProject, h.loadProject)
	h.add(api, http.MethodGet, "/projects/:slug/tree", auth.ViewProjects, h.apiTree, h.loadProject)
	h.add(api, http.MethodGet, "/projects/:slug/dora", auth.ViewProjects, h.apiDORA, h.loadProject)
	h.add(api, http.MethodGet, "/projects/:slug/files", auth.ViewProjects, h.apiFile, h.loadProject)
	h.add(api, http.MethodPost, "/projects/:slug/commits", auth.PushCode, h.apiCommit, h.loadProject)
	h.add(api, http.MethodGet, "/projects/:slug/notifications", auth.ManageProject, h.apiNotificationEndpoints, h.loadProject)
	h.add(api, http.MethodPost, "/projects/:slug/notifications", auth.ManageProject, h.apiCreateNotificationEndpoint, h.loadProject)
	h.add(api, http.MethodGet, "/projects/:slug/notifications/:id", auth.ManageProject, h.apiNotificationEndpoint, h.loadProject)
	h.add(api, http.MethodPut, "/projects/:slug/notifications/:id", auth.ManageProject, h.apiUpdateNotificationEndpoint, h.loadProject)
	h.add(api, http.MethodDelete, "/projects/:slug/notifications/:id", auth.ManageProject, h.apiDeleteNotificationEndpoint, h.loadProject)
	h.add(api, http.MethodPost, "/projects/:slug/notifications/:id/rotate-secret", auth.ManageProject, h.apiRotateNotificationSecret, h.loadProject)
	h.add(api, http.MethodPost, "/projects/:slug/notifications/:id/test", auth.ManageProject, h.apiTestNotification, h.loadProject)
	h.add(api, http.MethodGet, "/projects/:slug/notifications/:id/deliveries", auth.ManageProject, h.apiNotificationDeliveries, h.loadProject)
	h.add(api, http.MethodPost, "/projects/:slug/notifications/:id/deliveries/:delivery/redeliver", auth.ManageProject, h.apiRedeliverNotification, h.loadProject)
	h.add(api, http.MethodGet, "/me", auth.Authenticated, h.apiMe)
	h.add(api, http.MethodPost, "/users", auth.ManageUsers, h.apiCreateUser)
	h.add(api, http.MethodPost, "/users/:name/password", auth.ManageUsers, h.apiResetPassword)
	h.add(api, http.MethodGet, "/audit", auth.ViewAudit, h.apiListAudit)
	h.add(api, http.MethodGet, "/projects/:slug/environments", auth.ViewProjects, h.apiEnvironments)
	h.add(api, http.MethodPatch, "/projects/:slug/environments/:env", auth.ManageEnvironments, h.apiPatchEnvironment)
	h.add(api, http.MethodGet, "/projects/:slug/environments/:env/releases", auth.ViewProjects, h.apiReleases)
	h.add(api, http.MethodPost, "/projects/:slug/environments/:env/deploys", auth.DeployUnprotected, h.apiDeploy)
	h.add(api, http.MethodPost, "/projects/:slug/environments/:env/rollback", auth.DeployUnprotected, h.apiRollback)
	h.add(api, http.MethodPost, "/projects/:slug/environments/:env/resume-auto-deploy", auth.ManageEnvironments, h.resumeAutoDeploy)
	h.add(api, http.MethodGet, "/projects/:slug/environments/:env/variables", auth.ManageEnvironments, h.apiListVariables)
	h.add(api, http.MethodGet, "/projects/:slug/environments/:env/variables/:name", auth.ManageEnvironments, h.apiShowVariable)
	h.add(api, http.MethodPut, "/projects/:slug/environments/:env/variables/:name", auth.ManageEnvironments, h.apiPutVariable)
	h.add(api, http.MethodDelete, "/projects/:slug/environments/:env/variables/:name", auth.ManageEnvironments, h.apiDeleteVariable)
	h.add(api, http.MethodGet, "/releases/:id", auth.ViewProjects, h.apiRelease, h.loadRelease)
	h.add(api, http.MethodGet, "/releases/:id/log", auth.ViewProjects, releaseLog.Text, h.loadRelease)
	h.add(api, http.MethodPost, "/projects/:slug/builds", auth.RunBuild, h.apiCreateBuild, h.loadBuildsProject)
	h.add(api, http.MethodGet, "/projects/:slug/builds", auth.ViewProjects, h.apiListBuilds, h.loadBuildsProject)
	h.add(api, http.MethodGet, "/builds/:id", auth.ViewProjects, h.apiShowBuild, h.loadBuild)
	h.add(api, http.MethodGet, "/builds/:id/log", auth.ViewProjects, buildLog.Text, h.loadBuild)
	h.add(api, http.MethodPost, "/builds/:id/cancel", auth.CancelBuild, h.apiCancelBuild, h.loadBuild)
	h.add(api, http.MethodGet, "/artifacts/:sha256", auth.ViewProjects, h.downloadArtifact)
	h.add(api, http.MethodPost, "/projects/:slug/environments/:env/promote", auth.Promote, h.apiPromote)
	h.add(api, http.MethodGet, "/projects/:slug/environments/:env/policy", auth.ViewProjects, h.apiPolicy)
	h.add(api, http.MethodPut, "/projects/:slug/environments/:env/policy", auth.ManageEnvironments, h.apiUpdatePolicy)
	h.add(api, http.MethodGet, "/promotions/:id", auth.ViewProjects, h.apiPromotion)
	h.add(api, http.MethodPost, "/promotions/:id/approve", auth.Approve, h.apiDecide(models.DecisionApprove))
	h.add(api, http.MethodPost, "/promotions/:id/reject", auth.Approve, h.apiDecide(models.DecisionReject))
	h.add(api, http.MethodPost, "/promotions/:id/cancel", auth.Promote, h.apiCancelPromotion)
	h.add(api, http.MethodPost, "/promotions/:id/override-freeze", auth.OverrideFreeze, h.apiOverrideFreeze)
	h.add(api, http.MethodPost, "/projects/:slug/loadtests", auth.RunLoadTest, h.apiCreateLoadTest)
	h.add(api, http.MethodGet, "/loadtests/:id", auth.ViewProjects, h.apiShowLoadTest)
	h.add(api, http.MethodPost, "/loadtests/:id/cancel", auth.RunLoadTest, h.apiCancelLoadTest)
	h.add(api, http.MethodGet, "/builds/:id/log/ws", auth.ViewProjects, buildLog.APISocket, h.loadBuild)
	h.add(api, http.MethodGet, "/releases/:id/log/ws", auth.ViewProjects, releaseLog.APISocket, h.loadRelease)
	h.add(api, http.MethodGet, "/projects/:slug/environments/:env/output", auth.ViewProjects, h.apiEnvironmentOutput, h.loadOutput)
	h.add(api, http.MethodGet, "/projects/:slug/environments/:env/output/ws", auth.ViewProjects, appOutput.APISocket, h.loadOutput)

	e.RouteNotFound("/*", h.notFound)
}
