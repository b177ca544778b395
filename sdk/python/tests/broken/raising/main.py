"""Broken on purpose: step raises on actions that are not ASCII instead of
answering INVALID_ACTION. Each raise must become an ENV_ERROR result (with
the traceback in info) and the plugin must keep serving."""
import envgym


class Raising(envgym.Env):
    spec = envgym.Spec(id="broken/raising-py-v0", version="0.1.0", max_steps=5, deterministic=True)

    def reset(self, seed, task_id, options):
        return "Say something in ASCII."

    def step(self, action):
        action.encode("ascii")  # UnicodeEncodeError on "ünïcödé"
        if action == "boom":
            raise RuntimeError("boom: the env failed")
        return envgym.invalid("Say something in ASCII.", "nothing here is a valid action")


if __name__ == "__main__":
    envgym.serve(Raising)
