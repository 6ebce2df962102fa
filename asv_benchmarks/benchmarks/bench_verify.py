"""The verification suite's quick run (`cnnprop verify --quick`), end to end."""
from .common import verify_available


class VerifyQuick:
    timeout = 300

    def setup(self):
        if not verify_available():
            raise NotImplementedError("this commit has no cnnprop.verify")

    def time_quick_run(self):
        from cnnprop import verify

        report = verify.run(quick=True)
        assert report.ok, report.summary_line()

    def peakmem_quick_run(self):
        from cnnprop import verify

        verify.run(quick=True)
