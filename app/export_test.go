package app

// RunDuePushes runs the push checks that are due by the app's clock, and
// waits until no check runs anywhere: tests move their clock past the push
// delay and then look at what was pushed.
func (a *App) RunDuePushes() {
	if a.push != nil {
		a.push.runDue()
	}
}
