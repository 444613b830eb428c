package models

import "strconv"

// BuildLogStream is the log stream key of a build.
func BuildLogStream(id int64) string { return "build:" + strconv.FormatInt(id, 10) }

// DeployLogStream is the log stream key of a release's deploy.
func DeployLogStream(id int64) string { return "deploy:" + strconv.FormatInt(id, 10) }

// LoadTestLogStream is the log stream key of a load test.
func LoadTestLogStream(id int64) string { return "loadtest:" + strconv.FormatInt(id, 10) }

// AppOutputStream is the log stream key of the output (stdout and stderr)
// of the app instances that run release id.
func AppOutputStream(id int64) string { return "output:" + strconv.FormatInt(id, 10) }
