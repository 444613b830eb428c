package deploy

// appCommand returns the argv and directory that run command for an app
// whose release is unpacked in release, with work as its environment's
// work dir ("" runs it in release, unsandboxed, as before work dirs). vars
// gets HOME (the working directory) unless the app's config sets it.
func (m *Manager) appCommand(work, release, command string, vars map[string]string) (argv []string, dir string, err error) {
	sh := []string{"/bin/sh", "-c", command}
	if work == "" {
		return sh, release, nil
	}
	if _, err := prepareWorkDir(work, release, false); err != nil {
		return nil, "", err
	}
	if _, set := vars["HOME"]; !set {
		vars["HOME"] = work
	}
	return sh, work, nil
}
