"""The options the commands share, each declared once with its environment variable: the
`Annotated` option types, and `option_group`/`with_options`, which add a group of them to a
command (`GATE_OPTIONS` for gating and reporting, `TRIVY_OPTIONS` for finding Trivy)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    markdown = "markdown"


class ColorMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


class PrCommentMode(StrEnum):
    # The values of `scangate.pr_comment.Mode`, which is imported only by runs that comment.
    off = "off"
    always = "always"
    on_change = "on-change"


# Options shared by every command that gates (check, scan, hook): one definition each.
# `policy check` and `policy export`: the policy to read.
PolicyPathArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[NAME|PATH]",
        help="Policy file or built-in name. Default: the policy a scan would use.",
    ),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        "-p",
        envvar="SCANGATE_POLICY",
        metavar="NAME|PATH",
        help="Built-in policy name (default, strict, pre-push) or a policy file. "
        "Default: .scangate.yaml in the scanned root or the current directory, else 'default'.",
    ),
]
IgnorefileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--ignorefile",
        envvar="SCANGATE_IGNOREFILE",
        metavar="PATH",
        help="A .trivyignore or .trivyignore.yaml to read as allow entries (repeatable). "
        "Default: those found in the scanned root.",
    ),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", envvar="SCANGATE_FORMAT", help="What to print on stdout."),
]
JsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--json",
        envvar="SCANGATE_JSON",
        metavar="PATH",
        help="Also write the JSON result (scangate/result/v1) to this file.",
    ),
]
AllOpt = Annotated[
    bool,
    typer.Option("--all", envvar="SCANGATE_ALL", help="List findings below the threshold too."),
]
TodayOpt = Annotated[
    str | None,
    typer.Option(
        "--today",
        envvar="SCANGATE_TODAY",
        metavar="YYYY-MM-DD",
        help="Judge allow-entry expiry, grace-days and unfixed-max-days as of this date. "
        "Default: today.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", envvar="SCANGATE_QUIET", help="Print only the verdict; no progress."
    ),
]
ColorOpt = Annotated[
    ColorMode,
    typer.Option(
        "--color",
        envvar="SCANGATE_COLOR",
        help="Colour the table and the verdict. auto: on a terminal only, not with NO_COLOR "
        "set, TERM=dumb or under GitHub Actions; FORCE_COLOR colours a pipe too.",
    ),
]
BaselineOpt = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        envvar="SCANGATE_BASELINE",
        metavar="PATH",
        help="Findings recorded in this baseline are 'known': reported, never failing.",
    ),
]
DiffBaseOpt = Annotated[
    str | None,
    typer.Option(
        "--diff-base",
        envvar="SCANGATE_DIFF_BASE",
        metavar="REF",
        help="Gate only what this branch changes: findings also found at merge-base(REF, HEAD) "
        "are 'pre-existing': reported, never failing.",
    ),
]
DiffBaseImageOpt = Annotated[
    str | None,
    typer.Option(
        "--diff-base-image",
        envvar="SCANGATE_DIFF_BASE_IMAGE",
        metavar="REF",
        help="Gate only what the image adds over this one (the previous release): findings "
        "it has too are 'pre-existing'.",
    ),
]
DiffBaseInputOpt = Annotated[
    Path | None,
    typer.Option(
        "--diff-base-input",
        envvar="SCANGATE_DIFF_BASE_INPUT",
        metavar="PATH",
        help="As --diff-base-image, the previous release as an image archive or OCI layout.",
    ),
]

SarifOpt = Annotated[
    Path | None,
    typer.Option(
        "--sarif", envvar="SCANGATE_SARIF", metavar="PATH", help="Also write SARIF 2.1.0 here."
    ),
]
SarifCategoryOpt = Annotated[
    str | None,
    typer.Option(
        "--sarif-category",
        envvar="SCANGATE_SARIF_CATEGORY",
        metavar="TEXT",
        help="The code-scanning category (default: scangate/fs/<path> or scangate/image/<repo>).",
    ),
]
SarifIncludeAllowedOpt = Annotated[
    bool,
    typer.Option(
        "--sarif-include-allowed",
        envvar="SCANGATE_SARIF_INCLUDE_ALLOWED",
        help="Add allowed findings to the SARIF, marked as suppressed.",
    ),
]
SarifOnlyFailingOpt = Annotated[
    bool,
    typer.Option(
        "--sarif-only-failing",
        envvar="SCANGATE_SARIF_ONLY_FAILING",
        help="Only findings that fail the gate go into the SARIF.",
    ),
]
SarifMaxResultsOpt = Annotated[
    int,
    typer.Option(
        "--sarif-max-results",
        envvar="SCANGATE_SARIF_MAX_RESULTS",
        min=0,
        metavar="N",
        help="Results per SARIF run, most severe kept (GitHub's limit is 25000; 0 = no cap).",
    ),
]
DockerfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--dockerfile",
        envvar="SCANGATE_DOCKERFILE",
        metavar="PATH",
        help="Locate image findings at this Dockerfile's final FROM line in SARIF "
        "(default: a Dockerfile in the scanned root).",
    ),
]
MarkdownOpt = Annotated[
    Path | None,
    typer.Option(
        "--markdown",
        envvar="SCANGATE_MARKDOWN",
        metavar="PATH",
        help="Also write a Markdown summary here.",
    ),
]
GithubSummaryOpt = Annotated[
    bool,
    typer.Option(
        "--github-summary",
        envvar="SCANGATE_GITHUB_SUMMARY",
        help="Append the Markdown summary to $GITHUB_STEP_SUMMARY (when it is set).",
    ),
]
PlanOpt = Annotated[
    bool,
    typer.Option(
        "--plan",
        envvar="SCANGATE_PLAN",
        help="Add a fix plan to the table: the fewest upgrades that clear the vulnerabilities, "
        "direct or via which dependency, and whether the gate would pass after them.",
    ),
]
PrCommentOpt = Annotated[
    PrCommentMode,
    typer.Option(
        "--pr-comment",
        envvar="SCANGATE_PR_COMMENT",
        help="In a GitHub Actions pull request run: one sticky comment with the verdict, "
        "updated in place. on-change: post or edit only when there is something to say or "
        "its text changed. Needs GITHUB_TOKEN with pull-requests: write.",
    ),
]
PrCommentAuthorOpt = Annotated[
    str | None,
    typer.Option(
        "--pr-comment-author",
        envvar="SCANGATE_PR_COMMENT_AUTHOR",
        metavar="LOGIN",
        help="The login that posts the comment, for a personal access token "
        "(default: a bot, as with the workflow's GITHUB_TOKEN).",
    ),
]
# The exploitation feeds (`scangate.feeds`), read only when the policy uses them.
KevUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--kev-url",
        envvar="SCANGATE_KEV_URL",
        metavar="URL",
        help="A mirror of CISA's KEV catalog (JSON). Default: CISA's own feed.",
    ),
]
EpssUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--epss-url",
        envvar="SCANGATE_EPSS_URL",
        metavar="URL",
        help="A mirror of FIRST's daily EPSS scores (gzip CSV). Default: FIRST's own file.",
    ),
]
KevFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--kev-file",
        envvar="SCANGATE_KEV_FILE",
        metavar="PATH",
        help="Read the KEV catalog from this file, never the network (an air gap).",
    ),
]
EpssFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--epss-file",
        envvar="SCANGATE_EPSS_FILE",
        metavar="PATH",
        help="Read the EPSS scores from this file (gzip or plain CSV), never the network.",
    ),
]
MaxFeedAgeOpt = Annotated[
    int,
    typer.Option(
        "--max-feed-age",
        envvar="SCANGATE_MAX_FEED_AGE",
        min=0,
        metavar="DAYS",
        help="Refuse a KEV or EPSS feed older than this (a cached copy, or a --kev-file / "
        "--epss-file by its own date).",
    ),
]
FeedOfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline",
        envvar="SCANGATE_OFFLINE",
        help="No downloads: the KEV and EPSS feeds come from the cache or the --kev-file / "
        "--epss-file.",
    ),
]


# Options for commands that run Trivy.
TrivyOpt = Annotated[
    Path | None,
    typer.Option(
        "--trivy",
        envvar="SCANGATE_TRIVY",
        metavar="PATH",
        help="The Trivy binary to run. Default: this Python environment's, PATH, the cache.",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        envvar="SCANGATE_CACHE_DIR",
        metavar="DIR",
        help="scangate's cache: Trivy's vulnerability DB, installed Trivy releases, the "
        "KEV and EPSS feeds. Default: the user cache dir.",
    ),
]
NoInstallOpt = Annotated[
    bool,
    typer.Option(
        "--no-install",
        envvar="SCANGATE_NO_INSTALL",
        help="Never download Trivy: fail (exit 3) when none is found.",
    ),
]


OptionGroup = tuple[inspect.Parameter, ...]


def option_group(**spec: tuple[Any, Any]) -> OptionGroup:
    """Options several commands share, as `name=(AnnotatedType, default)`."""
    return tuple(
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, (kind, default) in spec.items()
    )


def with_options(
    *groups: OptionGroup,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Add option groups to a command, so that each shared option is declared once.

    The command takes them as `**options` (it reads them back through `ctx.params`); Typer
    sees them in the signature this sets, with their help and environment variables.
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            command(*args, **kwargs)

        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*params, *(p for group in groups for p in group)]
        )
        return wrapper

    return decorate


GATE_OPTIONS = option_group(
    policy=(PolicyOpt, None),
    ignorefile=(IgnorefileOpt, None),
    fmt=(FormatOpt, OutputFormat.table),
    json_path=(JsonOpt, None),
    sarif=(SarifOpt, None),
    sarif_category=(SarifCategoryOpt, None),
    sarif_include_allowed=(SarifIncludeAllowedOpt, False),
    sarif_only_failing=(SarifOnlyFailingOpt, False),
    sarif_max_results=(SarifMaxResultsOpt, 25_000),
    dockerfile=(DockerfileOpt, None),
    markdown=(MarkdownOpt, None),
    github_summary=(GithubSummaryOpt, False),
    plan=(PlanOpt, False),
    baseline=(BaselineOpt, None),
    show_all=(AllOpt, False),
    today=(TodayOpt, None),
    quiet=(QuietOpt, False),
    color=(ColorOpt, ColorMode.auto),
    kev_url=(KevUrlOpt, None),
    epss_url=(EpssUrlOpt, None),
    kev_file=(KevFileOpt, None),
    epss_file=(EpssFileOpt, None),
    max_feed_age=(MaxFeedAgeOpt, 7),
)
# The pull request comment: check, scan fs and scan image (not the hooks).
PR_COMMENT_OPTIONS = option_group(
    pr_comment=(PrCommentOpt, PrCommentMode.off),
    pr_comment_author=(PrCommentAuthorOpt, None),
)
TRIVY_OPTIONS = option_group(
    trivy=(TrivyOpt, None), cache_dir=(CacheDirOpt, None), no_install=(NoInstallOpt, False)
)
# `check` runs no Trivy, but may download the feeds: where they are cached, and whether not to.
FEED_CACHE_OPTIONS = option_group(cache_dir=(CacheDirOpt, None), offline=(FeedOfflineOpt, False))
VexOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--vex",
        envvar="SCANGATE_VEX",
        metavar="PATH",
        help="An OpenVEX, CycloneDX VEX or CSAF file (repeatable): its not_affected and "
        "fixed statements allow their findings (the policy's vex: honor | report).",
    ),
]
# `--vex`: check and every scan.
VEX_OPTIONS = option_group(vex=(VexOpt, None))
