"""The `memberportal` command: parse, call, print, exit code."""
from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import click

from memberportal import __version__
from memberportal.core.rules import STAGES, Status
from memberportal.errors import MemberPortalError, ValidationFailed
from memberportal.inputs.project import Project, load, member_files, unknown_skus
from memberportal.layout import find_root, rel
from memberportal.render.messages import CATALOGUE, counted, error_text, money, say, told_text, word
from memberportal.runtime.progress import paused_gc, progress_bar
from memberportal.runtime.terminal import echo  # every message of a command goes through it

# True in the `memberportal` program, which ends after its one command; False where the
# commands run inside another process (tests, a host application).
_one_command = False


class Context:
    def __init__(self, root: Path | None, as_of: date | None, lang: str | None):
        self._root = root
        self.as_of = as_of or date.today()
        self.lang = lang or project_language(root)   # the command line's own words
        self._project: Project | None = None
        self.show_progress = True     # a command's --no-progress turns its bars off

    @property
    def root(self) -> Path:
        return self._root or find_root()

    @property
    def brand_lang(self) -> str:
        """The brand's language (mkdocs.yml theme.language): pages, prints and the report."""
        from memberportal.inputs.config import language
        return language(self.root)

    @property
    def project(self) -> Project:
        if self._project is None:
            root = self.root
            files = member_files(root)
            with self.bar(len(files), "reading members", "file") as bar:
                self._project = load(root, files=files, progress=bar.update)
        return self._project

    def bar(self, total: int, desc: str, unit: str):
        return progress_bar(self.show_progress, total=total, desc=desc, unit=unit,
                            smoothing=0.05)


def project_language(root: Path | None) -> str:
    """The brand's language, the command line's when --lang is not given; zh outside a
    project or where mkdocs.yml cannot be read."""
    from memberportal.inputs.config import language
    try:
        return language(root or find_root())
    except MemberPortalError:
        return "zh"


def _fail(error: MemberPortalError, lang: str) -> None:
    echo(error_text(error, lang), err=True)
    sys.exit(1)


_LANG = "memberportal.lang"  # in the root context's meta: the language of --help
_click_lang = "en"   # the language click's own words (usage errors, "default: …") are said in


def _click_word(text: str) -> str:
    """click's gettext hook: its English message in the command line's language."""
    return CATALOGUE.get(_click_lang, {}).get(f"click:{text}", text)


def _click_nword(one: str, many: str, n: int) -> str:
    return _click_word(one if n == 1 else many)


def _speak_for_click(lang: str) -> None:
    """Sets the language of click's own words: click says them through gettext's `_` and
    `ngettext`, which its modules import as their own names."""
    global _click_lang
    _click_lang = lang
    for name in ("core", "exceptions", "parser", "types", "formatting", "termui"):
        module = sys.modules.get(f"click.{name}")
        if module is not None and hasattr(module, "_"):
            module._ = _click_word
            if hasattr(module, "ngettext"):
                module.ngettext = _click_nword


def _peek_language(args: list[str]) -> str:
    """--lang, else the language of -C/--project (or the project found from here), read from
    the arguments before click parses them: --help is answered while parsing."""
    given: dict[str, str] = {}
    for i, arg in enumerate(args):
        for flag in ("--lang", "-C", "--project"):
            if arg == flag and i + 1 < len(args):
                given.setdefault(flag, args[i + 1])
            elif arg.startswith(flag + "=") and flag.startswith("--"):
                given.setdefault(flag, arg.split("=", 1)[1])
    if given.get("--lang") in ("zh", "en"):
        return given["--lang"]
    folder = given.get("-C") or given.get("--project")
    return project_language(Path(folder).resolve() if folder else None)


class _Helped(click.Command):
    """--help in the command line's language: Chinese from the catalogue (help.<command>,
    help.<command>.<option>), English as written here."""

    def get_help(self, ctx: click.Context) -> str:
        lang = ctx.find_root().meta.get(_LANG, "en")
        path = [c.info_name for c in _chain(ctx)][1:]
        swapped = _swap_help(self, ctx, path, lang)
        try:
            text = super().get_help(ctx)
            for heading in ("Usage", "Options", "Commands"):  # click's own words
                text = re.sub(f"(?m)^{heading}: ?", word(f"help.heading.{heading}", lang)
                              if lang != "en" else r"\g<0>", text)
            return text
        finally:
            for thing, text in swapped:
                thing.help = text


def _chain(ctx: click.Context) -> list[click.Context]:
    out = []
    while ctx is not None:
        out.append(ctx)
        ctx = ctx.parent
    return out[::-1]


def _swap_help(command: click.Command, ctx: click.Context, path: list[str],
               lang: str) -> list[tuple[object, str | None]]:
    """Gives `command`, its options and (a group) its commands their help in `lang`; returns
    what to put back."""
    if lang == "en":
        return []
    table = CATALOGUE.get(lang, {})
    key = ".".join(["help", *path])
    things: list[tuple[object, str]] = [(command, key)]
    things += [(p, f"{key}.{p.name}") for p in command.params if isinstance(p, click.Option)]
    things.append((command.get_help_option(ctx), "help.help"))
    if isinstance(command, click.Group):
        things += [(c, f"{key}.{name}") for name, c in command.commands.items()]
    swapped = []
    for thing, k in things:
        if thing is not None and k in table:
            swapped.append((thing, thing.help))
            thing.help = table[k]
            if isinstance(thing, click.Command):
                swapped.append((_ShortHelp(thing), thing.short_help))
                thing.short_help = None
    return swapped


class _ShortHelp:
    """Puts a command's short_help back (the swap clears it so the listing uses the help)."""

    def __init__(self, command: click.Command):
        self.command = command

    @property
    def help(self):
        return self.command.short_help

    @help.setter
    def help(self, text):
        self.command.short_help = text


class _Group(_Helped, click.Group):
    """Turns our errors into messages and exit code 1, never a traceback."""

    command_class = _Helped
    group_class = type  # subgroups are _Groups too

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            ctx.meta[_LANG] = _peek_language(args)
            _speak_for_click(ctx.meta[_LANG])
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MemberPortalError as e:
            _fail(e, _cli_lang(ctx))
        except OSError as e:  # a full disk, a read-only folder: say so, never a traceback
            _fail(MemberPortalError(f"{e.strerror or e}" + (f": {e.filename}" if e.filename
                                                              else "")), _cli_lang(ctx))


def _cli_lang(ctx: click.Context) -> str:
    obj = ctx.find_root().obj
    return obj.lang if isinstance(obj, Context) else ctx.find_root().meta.get(_LANG, "zh")


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="memberportal")
@click.option("-C", "--project", "root", type=click.Path(file_okay=False, path_type=Path),
              help="The brand project folder (default: found from the current folder).")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Compute every status as of this day (default: today).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="Language of the command line's own words (messages, errors, --help; "
                   "default: the brand's, theme.language in mkdocs.yml). Pages, prints and "
                   "the report always speak the brand's language.")
@click.pass_context
def cli(ctx, root, as_of, lang):
    """memberportal: member pages, parcel inserts and a brand portal from member records."""
    from memberportal.core.models import FIRST_DAY, LAST_DAY
    if as_of and not FIRST_DAY <= as_of.date() <= LAST_DAY:
        raise click.BadParameter(word("cli.as_of_range", ctx.meta.get(_LANG, "zh")).format(
            first=FIRST_DAY, last=LAST_DAY), param_hint="--as-of")
    ctx.obj = Context(root.resolve() if root else None, as_of.date() if as_of else None,
                      lang or ctx.meta.get(_LANG))
    _speak_for_click(ctx.obj.lang)


@cli.command()
@click.pass_obj
def check(obj: Context):
    """Validate every file and print a summary (members per tier and per stage)."""
    from memberportal.layout import OUTPUT_DIR
    from memberportal.site.publish import recover_unlocked
    for note in recover_unlocked(obj.root / OUTPUT_DIR):  # a swap cut off by kill -9
        echo(note, err=True)
    project = obj.project
    from memberportal.inputs.snapshot import load_snapshot, tier_moves
    snapshot = load_snapshot(project.root)
    tiers: Counter = Counter()
    stages: Counter = Counter()
    member_tiers: dict[str, str] = {}
    errors: list[MemberPortalError] = []
    # counted, not kept (0.65 GB for 100,000 statuses); only an error makes cyclic garbage
    with obj.bar(len(project.members), "members", "member") as bar, paused_gc():
        for s in project.each_status(obj.as_of, bar.update):
            if isinstance(s, MemberPortalError):
                errors.append(s)
            else:
                tiers[s.tier.tier.id] += 1
                stages[s.stage.key] += 1
                member_tiers[s.member_id] = s.tier.tier.id
    from memberportal.inputs.config import brand_errors
    from memberportal.staff.scaffold import sample_warnings
    errors += brand_errors(project.root, project.program.brand.name)
    if errors:
        raise ValidationFailed(errors)
    program = project.program
    warning = word("cli.warning", obj.lang)
    for w in sample_warnings(project):
        echo(f"{warning}: {error_text(w, obj.lang)}", err=True)
    warnings = unknown_skus(project)
    for w in warnings:
        echo(f"{warning}: {error_text(w, obj.lang)}")
    echo(word("cli.valid", obj.lang).format(brand=program.brand.name,
                                             members=sum(tiers.values()),
                                             as_of=obj.as_of.isoformat())
         + (counted("cli.warnings", len(warnings), obj.lang) if warnings else ""))
    echo("\n" + word("cli.per_tier", obj.lang))
    for t in program.tiers:
        echo(f"  {t.id:<12} {t.name:<10} {tiers[t.id]:>6}")
    echo("\n" + word("cli.per_stage", obj.lang))
    for key in STAGES:
        echo(f"  {key:<14} {word('stage.name.' + key, obj.lang):<8} {stages[key]:>6}")
    if snapshot is not None:
        echo("")
        _say_moves(tier_moves(snapshot, member_tiers, program.ranks), program, obj.lang)
    for warning in colour_warnings(program, obj.lang):
        echo(warning, err=True)


def colour_warnings(program, lang: str = "en") -> list[str]:
    """A tier (or the brand) colour on which no text colour reaches 4.5:1."""
    from memberportal.render.colors import MIN_CONTRAST, unreadable
    out = []
    named = [(("brand", "color"), program.brand.color)]
    named += [(("tiers", i, "color"), t.color) for i, t in enumerate(program.tiers)]
    for path, color in named:
        best = unreadable(color)
        if best is not None:
            out.append(f"{word('cli.warning', lang)}: members/tiers.yml, "
                       f"{'.'.join(map(str, path))}: {color}: "
                       + word("warn.colour", lang).format(best=f"{best:.1f}",
                                                          min=MIN_CONTRAST))
    return out


def _say_moves(moves, program, lang: str) -> None:
    """How many members move up and down against the published tiers, naming the first few."""
    if moves is None:
        return
    echo(moves_summary(moves, {t.id: t.name for t in program.tiers}, lang))


def moves_summary(moves, names: dict[str, str], lang: str, shown: int = 5) -> str:
    """'tier moves: 2 up (M1 silver → gold, …), 1 down (…) against …' in `lang`."""
    def few(some):
        text = ", ".join(f"{m} {names.get(a, a)} → {names.get(b, b)}" for m, a, b in some[:shown])
        more = ", …" if len(some) > shown else ""
        return word("cli.moves_few", lang).format(text=text + more) if some else ""
    return word("cli.moves", lang).format(up=len(moves.up), up_few=few(moves.up),
                                          down=len(moves.down), down_few=few(moves.down),
                                          date=moves.since.isoformat())


@cli.command()
@click.argument("member_id")
@click.pass_obj
def explain(obj: Context, member_id: str):
    """Show a member's status with the reason for each part, for staff."""
    project = obj.project
    member = project.member(member_id)
    echo(render_explain(project, project.status(member, obj.as_of), obj.lang))


def render_explain(project: Project, s: Status, lang: str) -> str:
    sym = project.program.currency_symbol
    member = project.member(s.member_id)

    def w(key: str, **params) -> str:
        return word(f"explain.{key}", lang).format(**params)

    def row(label: str, text: str, indent: int = 0) -> str:
        return " " * indent + _pad(w(label), 12 - indent) + text

    lines = [f"{member.id}  {member.name or '-'}  ({project.where[member.id]})",
             w("as_of", date=s.as_of.isoformat()), ""]
    t = s.tier
    lines.append(row("tier", f"{t.tier.name} ({t.tier.id})"))
    lines.append(row("why", say(t.reason, lang, sym), 2))
    if t.keep_until:
        lines.append(row("kept_to", w("kept_to_row", date=t.keep_until.isoformat()), 2))
    if t.keep:
        lines.append(row("keep", say(t.keep, lang, sym), 2))
    if t.next_tier:
        need = (w("points_n", n=f"{int(t.needed):,}") if t.basis == "points"
                else money(t.needed, sym))
        by = w("next_by", date=t.needed_by.isoformat()) if t.needed_by else ""
        lines.append(row("next", w("next_row", tier=t.next_tier.name, need=need, by=by), 2))
    p = s.points
    lines.append(row("points", w("points_row", balance=f"{p.balance:,}", earned=f"{p.earned:,}",
                                 redeemed=f"{p.redeemed:,}", expired=f"{p.expired:,}")))
    for e in p.expiring:
        lines.append(row("expiring", w("expiring_row", points=f"{e.points:,}",
                                       date=e.date.isoformat()), 2))
    for e in p.history[-8:]:
        lines.append(f"  {e.date.isoformat()}  {e.points:+6,}  {say(e.what, lang, sym)}")
    lines.append(row("benefits", w("list_sep").join(b.name for _, b in s.benefits) or "-"))
    for o in s.offers:
        lines.append(row("offer", w("offer_row", name=o.name, state=word("offer." + o.state, lang),
                                    start=o.valid_from.isoformat(),
                                    end=o.valid_until.isoformat())))
    for r in s.reminders:
        lines.append(row("reminder", w("reminder_row", name=r.name, date=r.run_out.isoformat(),
                                       remind=r.remind_on.isoformat())
                         + (w("due") if r.due else "")))
    for b in s.birthdays:
        who = b.child_name or w("who." + b.who)
        lines.append(row("birthday", counted("explain.birthday_row", b.days_until, lang,
                                             who=who, age=b.age, date=b.date.isoformat(),
                                             gift=b.gift)))
    lines.append(row("stage", f"{_named(s.stage.key, word('stage.name.' + s.stage.key, lang))}: "
                              f"{say(s.stage.reason, lang, sym)}"))
    r = s.rfm
    rfm = (counted("cli.rfm", r.recency_days, lang, orders=counted("cli.orders", r.frequency,
                                                                    lang),
                   amount=money(r.monetary, sym)) if r.recency_days is not None
           else w("no_order"))
    lines.append(row("rfm", f"R{r.r} F{r.f} M{r.m} {word('rfm.' + r.segment, lang)} ({rfm})"))
    churn = _named(s.churn.level, word("churn.name." + s.churn.level, lang))
    lines.append(row("churn", f"{churn}: {say(s.churn.reason, lang, sym)}"))
    if s.ambassador:
        lines.append(row("ambassador", say(s.ambassador.reason, lang, sym)))
    for rec in s.recommendations:
        lines.append(row("recommend", f"{rec.name}: {say(rec.reason, lang, sym)}"))
    return "\n".join(lines)


def _named(key: str, name: str) -> str:
    """A key with its name in the command line's language, where they differ."""
    return key if name.replace(" ", "_") == key else f"{key} ({name})"


def _pad(label: str, width: int) -> str:
    """`label` padded to `width` terminal columns (a Chinese character takes two)."""
    import unicodedata
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in label)
    return label + " " * max(width - used, 1)


# --- the site: build, rotate, serve ---------------------------------------------------------


@cli.command()
@click.option("--strict", is_flag=True, help="Treat MkDocs warnings as errors.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (tqdm) while rendering personal pages.")
@click.option("--executor", default="local", show_default=True, metavar="local|dask://HOST:PORT",
              help="Where pages render: this machine's cores, or a Dask cluster's workers.")
@click.option("--workers", type=int, default=None,
              help="Local processes (default: up to 2).")
@click.option("--chunk", type=click.IntRange(1), default=None,
              help="Member files per batch sent to a worker (default 100).")
@click.pass_obj
def build(obj: Context, strict: bool, progress: bool, executor: str, workers: int | None,
          chunk: int | None):
    """Build the portal and every member's personal page into output/site/."""
    import time

    from memberportal.site.build import CHUNK, run
    start = time.perf_counter()
    b = run(obj.root, obj.as_of, strict=strict, show_progress=progress, executor=executor,
            workers=workers, chunk=chunk or CHUNK, then_exit=_one_command)
    for error in b.failures:
        echo(error_text(error, obj.lang), err=True)
    stages = ", ".join(f"{name} {sec:.1f}s" for name, sec in b.timings.items())
    echo(counted("cli.built", b.pages, obj.lang, brand=b.program.brand.name,
                 unchanged=word("cli.portal_unchanged", obj.lang) if b.portal_reused else "",
                 rendered=b.rendered, reused=b.reused, removed=b.removed,
                 as_of=obj.as_of.isoformat(), secs=f"{time.perf_counter() - start:.1f}",
                 stages=stages))
    _say_moves(b.moves, b.program, obj.lang)
    if b.moves is not None:
        echo(word("cli.published", obj.lang))
    if b.failures:
        echo(counted("cli.pages_failed", len(b.failures), obj.lang), err=True)
        sys.exit(1)


@cli.command()
@click.argument("member_id")
@click.pass_obj
def rotate(obj: Context, member_id: str):
    """Give a member a new personal-page URL (when the old one leaked)."""
    from memberportal.inputs.secret import rotate as bump
    from memberportal.layout import ROTATIONS_FILE, STATE_DIR
    member = obj.project.member(member_id)
    generation = bump(obj.root, member.id)
    echo(word("cli.rotate", obj.lang).format(member=member.id, generation=generation,
                                             rotations=f"{STATE_DIR}/{ROTATIONS_FILE}",
                                             secret=f"{STATE_DIR}/secret"))


@cli.group()
def secret():
    """The brand's secret: every page address and printed code is derived from it."""


@secret.command("init")
@click.pass_obj
def secret_init(obj: Context):
    """Make .memberportal/secret for a brand that has none (back it up)."""
    from memberportal.inputs.secret import init_secret, previous_build
    path = init_secret(obj.root)
    built = previous_build(obj.root)
    echo(word("cli.secret.created", obj.lang).format(path=path,
                                                     rotations=".memberportal/rotations.yml"))
    if built:
        echo(word("cli.secret.built_before", obj.lang).format(built=built))


@secret.command("rotate-all")
@click.option("--yes", is_flag=True, help="Do it: every page address changes.")
@click.pass_obj
def secret_rotate_all(obj: Context, yes: bool):
    """Replace the secret (it leaked): every page address, QR code and retention code changes."""
    from memberportal.inputs.secret import rotate_all
    if not yes:
        raise click.UsageError(word("cli.secret.confirm", obj.lang))
    path, old = rotate_all(obj.root)
    kept = word("cli.secret.kept", obj.lang).format(old=old) if old else ""
    echo(word("cli.secret.rotated", obj.lang).format(path=path, kept=kept))


@cli.command()
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
@click.option("--interval", default=1.0, show_default=True,
              help="Seconds between checks for changed inputs.")
@click.pass_obj
def serve(obj: Context, port: int, interval: float):
    """Preview the site on 127.0.0.1, rebuilding when content, templates or members change."""
    from memberportal.serve import serve as run_server
    run_server(obj.root, obj.as_of, port=port, interval=interval, say=echo,
               lang=obj.brand_lang, cli_lang=obj.lang)
# --- staff: import, report, init ------------------------------------------------------------


@cli.command("import")
@click.argument("orders", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", metavar="NAME_OR_FILE",
              help="Column mapping: taobao, shopify, generic or a .yml file (default: guessed "
                   "from the column headers).")
@click.option("--dry-run", is_flag=True, help="Check and show what would change; write nothing.")
@click.option("--verbose", "-v", is_flag=True, help="List every file that changes.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars on long imports.")
@click.pass_obj
def import_(obj: Context, orders: Path, mapping: str | None, dry_run: bool, verbose: bool,
            progress: bool):
    """Add the orders of a shop export (CSV) to the member records."""
    from memberportal.staff.importing import apply, plan_import
    obj.show_progress = progress
    project = obj.project
    plan = plan_import(project, orders.resolve(), mapping, bar=obj.bar)
    lang = obj.lang
    echo(counted("cli.import.read", len(plan.table.rows), lang, file=plan.table.file,
                 mapping=plan.mapping.name, encoding=plan.table.encoding.upper()))
    added = [c for c in plan.changes if not c.new_member]
    echo(counted("cli.import.plan", plan.new_members, lang, orders=f"{plan.new_orders:,}",
                 already=f"{plan.already:,}", skipped=f"{plan.skipped:,}"))
    listed = plan.changes if verbose else added[:LISTED]
    for change in listed:
        what = word("cli.import.new_member" if change.new_member else "cli.import.add_to", lang)
        echo(f"  {_pad(what, 11)}{rel(change.path, project.root)}: "
             + counted("cli.orders", change.orders, lang))
    if len(listed) < len(added):
        echo(counted("cli.import.more_files", len(added) - len(listed), lang))
    notices = plan.notices if verbose else plan.notices[:LISTED]
    for notice in notices:
        echo(f"  {word('cli.import.note', lang)}: {told_text(notice, lang)}")
    if len(notices) < len(plan.notices):
        echo(counted("cli.import.more_notes", len(plan.notices) - len(notices), lang))
    if dry_run:
        echo(word("cli.import.dry_run", lang))
        return
    apply(project, plan, obj.as_of, bar=obj.bar)
    echo(counted("cli.import.wrote", len(plan.changes), lang, members=f"{plan.new_members:,}")
         if plan.changes else word("cli.import.nothing", lang))


LISTED = 20  # files and notes an import lists without --verbose


@cli.command()
@click.option("--save-snapshot", is_flag=True,
              help="After writing the report, record today's tiers as the published ones "
                   "(the next report compares with them; `build` does this on its own).")
@click.option("--format", "formats", type=click.Choice(["html", "json", "csv"]), multiple=True,
              help="What to write into output/staff/ (repeatable; default html): html the "
                   "report, json every figure and list, csv the call and win-back lists.")
@click.option("--churn-model", type=click.Choice(["rhythm", "bgnbd"]), default="rhythm",
              show_default=True,
              help="rhythm: each member's own interval or product cycle, else the day rule; "
                   "bgnbd: a BG/NBD model (the analytics extra) for members with a repeat "
                   "order, when enough members have one.")
@click.pass_obj
def report(obj: Context, save_snapshot: bool, formats: tuple[str, ...], churn_model: str):
    """Write the staff report (output/staff/report.html): confidential, never published."""
    from memberportal.inputs.snapshot import load_snapshot
    from memberportal.inputs.snapshot import save_snapshot as save
    from memberportal.staff.report import write_report
    project = obj.project
    snapshot = load_snapshot(project.root)
    model = None
    if churn_model == "bgnbd":
        import time

        from memberportal.staff.analytics import MIN_REPEAT_BUYERS, fit, require
        require()
        started = time.perf_counter()
        model = fit(project.members, obj.as_of)
        if model is None:
            echo(word("cli.report.thin", obj.lang).format(n=MIN_REPEAT_BUYERS))
        else:
            params = ", ".join(f"{k} {v:.3g}" for k, v in model.params.items())
            echo(word("cli.report.fitted", obj.lang).format(
                members=model.members, params=params,
                secs=f"{time.perf_counter() - started:.0f}", n=len(model.p_alive)))
    with obj.bar(len(project.members), "members", "member") as bar:
        paths, data = write_report(project, obj.as_of, obj.brand_lang, snapshot, bar.update,
                                   formats or ("html",), model)
    kpi = data["kpi"]
    echo(word("cli.report.written", obj.lang).format(
        paths=", ".join(rel(p, project.root) for p in paths), members=kpi["members"],
        calls=kpi["calls"], late=kpi["calls_late"], at_risk=kpi["at_risk"],
        birthdays=len(data["birthdays"])))
    if snapshot:
        echo(word("cli.report.changes", obj.lang).format(n=kpi["tier_changes"],
                                                         date=snapshot.as_of.isoformat()))
    else:
        echo(word("cli.report.no_snapshot", obj.lang))
    if save_snapshot:
        saved = save(project.root, obj.as_of, data["member_tiers"])
        echo(word("cli.report.saved", obj.lang).format(path=rel(saved, project.root)))


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--example", is_flag=True,
              help="Copy the example brand (小禾家母婴) as it is, to learn from or demonstrate.")
@click.option("--name", help="The brand's name (written to tiers.yml brand.name, mkdocs.yml "
                             "site_name and copyright).")
@click.option("--site-url", help="The portal's full address: QR codes and printed links use it.")
@click.option("--lang", "brand_lang", type=click.Choice(["zh", "en"]),
              help="The language of the portal, pages and prints.")
@click.option("--color", help="The brand colour, #rrggbb.")
@click.option("--currency", help="ISO currency code (CNY, USD, EUR…).")
def init(folder: Path, example: bool, name: str | None, site_url: str | None,
         brand_lang: str | None, color: str | None, currency: str | None):
    """Start a new brand project in FOLDER (new or empty).

    Asks on a terminal for what must be the brand's own (name, site address, language,
    colour, currency), or takes it from the options for an unattended run."""
    from memberportal.staff.scaffold import BrandAnswers, init_project, next_steps
    lang = _cli_lang(click.get_current_context())
    answers = None
    if not example:
        asking = sys.stdin.isatty()
        if not asking and not (name and site_url):
            raise MemberPortalError(word("cli.init.no_terminal", "en"),
                                    said=[("cli.init.no_terminal", {})])
        if asking:
            name = name or click.prompt("Brand name / 品牌名称")
            site_url = site_url or click.prompt("Portal address / 会员中心网址",
                                                default="https://member.example.com/")
            brand_lang = brand_lang or click.prompt(
                "Language / 语言", type=click.Choice(["zh", "en"]), default="zh")
            color = color or click.prompt("Brand colour / 品牌色 (#rrggbb)", default="#2f7d6d")
            currency = currency or click.prompt("Currency / 币种", default="CNY")
        answers = BrandAnswers(name.strip(), site_url.strip(), brand_lang or "zh",
                               color or "#2f7d6d", (currency or "CNY").upper())
    written = init_project(folder, answers)
    if example:
        members = [c for c in written if c.startswith("members/") and c != "members/tiers.yml"]
        echo(counted("cli.init.example", len(members), lang, folder=folder,
                     files=", ".join(c for c in written if c not in members)))
    else:
        echo(word("cli.init.created", lang).format(folder=folder, name=answers.name,
                                                   url=answers.site_url, lang=answers.lang,
                                                   files=", ".join(written)))
    echo(word("cli.init.next", lang))
    for n, step in enumerate(next_steps(folder, example), 1):
        echo(f"  {n}. {told_text(step, lang)}")


# --- print: inserts, retention cards, notebooks, codes --------------------------------------


def _print_job(obj: Context, create_secret: bool = True):
    from memberportal.inputs.config import brand_errors
    from memberportal.inputs.secret import load_secret
    from memberportal.print.contexts import make_job
    errors = brand_errors(obj.root, obj.project.program.brand.name, address_only=True)
    if errors:
        raise ValidationFailed(errors)
    return make_job(obj.project, obj.as_of, obj.brand_lang,
                    load_secret(obj.root, create_secret))


def _out(obj: Context, given: Path | None, name: str) -> Path:
    return given or obj.root / "output" / "print" / name


def _profile_option(command):
    return click.option(
        "--profile", type=click.Choice(["office", "press"]), default="office",
        show_default=True,
        help="office: an RGB PDF for office printers; press: PDF/X-4 for a print shop (CMYK "
             "with a FOGRA39 output intent, trim and bleed boxes, crop marks outside the "
             "bleed, a slug; checked before it is written).")(command)


@cli.command()
@click.option("--parcels", "parcels_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="CSV, one row per parcel in packing order: order_id, member_id, …")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write (default: output/print/inserts-<file>.pdf).")
@click.option("--size", default="A6", show_default=True,
              help="Trim size: A6, A5, B6, DL… or WIDTHxHEIGHT in mm.")
@click.option("--bleed", default=3.0, show_default=True, help="Bleed in mm.")
@click.option("--no-marks", is_flag=True, help="Leave out the crop marks.")
@click.option("--impose", "impose", default=None,
              help="Several inserts a sheet, e.g. '2x1 on A4 landscape' (step and repeat: "
                   "sheet by sheet) or '2x2 on A4, cut and stack' (stacks in order after "
                   "cutting).")
@click.option("--workers", type=int, default=None, help="Processes (default: up to 2).")
@click.option("--chunk", type=int, default=None,
              help="Parcels a worker takes at a time (default: up to 1,000, so that every "
                   "worker gets at least two).")
@click.option("--executor", default="local", show_default=True, metavar="local|dask://HOST:PORT",
              help="Where batches render (Dask workers need the project folder at the same "
                   "path).")
@click.option("--per-file", "per_file", type=click.IntRange(min=1), default=None,
              help="At most N parcels a PDF: numbered files in the file's order, each with "
                   "its manifest.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (tqdm) while the inserts render.")
@_profile_option
@click.pass_obj
def inserts(obj: Context, parcels_file, output, size, bleed, no_marks, impose, workers, chunk,
            executor, per_file, progress, profile):
    """One print-ready PDF with an insert per parcel, in the file's order, and its manifest
    (the PDF's name with .csv: sequence, order_id, member_id, file, page)."""
    import time

    from memberportal.print import inserts as ins
    from memberportal.print.contexts import number_parcels, read_parcels
    obj.show_progress = progress
    project = obj.project
    job = _print_job(obj)
    parcels = number_parcels(project, read_parcels(parcels_file, project), obj.as_of)
    out = _out(obj, output, f"inserts-{parcels_file.stem}.pdf")
    parts = ins.per_file(out, parcels, per_file) if per_file else [(out, parcels)]
    failed: list[MemberPortalError] = []
    for path, part in parts:
        started = time.perf_counter()
        with obj.bar(len(part), "inserts", "insert") as bar:
            result = ins.build_inserts(job, project, part, path,
                                       ins.Sheet(size, bleed, not no_marks), workers, chunk,
                                       ins.parse_impose(impose) if impose else None,
                                       executor=executor, progress=bar.update,
                                       profile=profile)
        took = time.perf_counter() - started
        how = [word("cli.inserts.whole", obj.lang).format(n=n, why=why)
               for why, n in result["whole"].items()]
        if result["inserts"] > sum(result["whole"].values()):
            how.insert(0, word("cli.inserts.shapes", obj.lang).format(n=result["shapes"]))
        failed += result["failed"]
        echo(word("cli.inserts.done", obj.lang).format(
            path=result["path"], n=result["inserts"], first=part[0].seq, last=part[-1].seq,
            total=len(parcels), mb=f"{result['bytes'] / 1e6:.1f}", secs=f"{took:.1f}",
            rate=f"{result['inserts'] / took:.0f}", how="; ".join(how),
            manifest=result["manifest"].name))
    unrecorded = sum(1 for p in parcels if not p.place.recorded)
    if unrecorded:
        echo(word("cli.inserts.unrecorded" + ("_one" if unrecorded == 1 else ""),
                  obj.lang).format(n=unrecorded))
    _say_failed(failed, "insert", obj.lang)


def _say_failed(failed: list[MemberPortalError], piece: str, lang: str) -> None:
    """Pieces that failed alone (the rest printed): each named, counted, exit 1."""
    for error in failed:
        echo(error_text(error, lang), err=True)
    if failed:
        echo(word(f"cli.failed.{piece}" + ("_one" if len(failed) == 1 else ""),
                  lang).format(n=len(failed)), err=True)
        sys.exit(1)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write (default: output/print/cards.pdf).")
@click.option("--layout", type=click.Choice(["sheet", "single"]), default="sheet",
              show_default=True, help="10-up A4 sheets for duplex, or one face per page.")
@click.option("--member", "member_ids", multiple=True, help="Only these members.")
@click.option("--parcels", "parcels_file", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="A card for each parcel (CSV as for `inserts`) whose member has an offer, "
                   "with the order, in the file's order, and a manifest (.csv).")
@click.option("--min-days", type=click.IntRange(min=0), default=3, show_default=True,
              help="Skip offers with fewer days left than this.")
@click.option("--workers", type=int, default=None, help="Processes (default: up to 2).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (tqdm) while the cards render.")
@_profile_option
@click.pass_obj
def cards(obj: Context, output, layout, member_ids, parcels_file, min_days, workers, progress,
          profile):
    """Retention cards (90×54 mm) for every member with an active retention offer, or for
    every parcel of such a member (--parcels: with the order and a manifest)."""
    from memberportal.print.cards import card_contexts, parcel_card_contexts, render_cards
    from memberportal.print.contexts import read_parcels
    obj.show_progress = progress
    job, project = _print_job(obj), obj.project
    if parcels_file is not None:
        if member_ids:
            raise click.UsageError(word("cli.cards.together", obj.lang))
        parcels = read_parcels(parcels_file, project)
        chosen = parcel_card_contexts(job, project, parcels, min_days)
        default = f"cards-{parcels_file.stem}.pdf"
    else:
        chosen = card_contexts(job, project, list(member_ids) or None, min_days)
        default = "cards.pdf"
    if not chosen:  # nothing to print is not a failure (a daily job reads exit 1 as one)
        echo(word("cli.cards.none", obj.lang).format(date=obj.as_of.isoformat()))
        return
    with obj.bar(len(chosen), "cards", "card") as bar:
        result = render_cards(job, project, chosen, _out(obj, output, default), layout,
                              workers, progress=bar.update, profile=profile)
    manifest = (word("cli.manifest", obj.lang).format(name=result["manifest"].name)
                if result["manifest"] else "")
    echo(word("cli.cards.done", obj.lang).format(path=result["path"], n=result["cards"],
                                                 mb=f"{result['bytes'] / 1e6:.1f}",
                                                 manifest=manifest))
    _say_failed(result["failed"], "card", obj.lang)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write (default: output/print/notebook.pdf).")
@click.option("--notes", default=48, show_default=True, help="Note pages.")
@click.option("--style", type=click.Choice(["lined", "dotted", "grid", "blank"]),
              default="lined", show_default=True)
@click.option("--member", "member_id", default=None, help="Personalise for this member.")
@click.option("--booklet", is_flag=True, help="Impose as a saddle-stitched A4 booklet.")
@_profile_option
@click.pass_obj
def notebook(obj: Context, output, notes, style, member_id, booklet, profile):
    """An A5 notebook: cover, brand story, member handbook, note pages."""
    from memberportal.print.notebook import build_notebook
    name = "notebook-booklet.pdf" if booklet else "notebook.pdf"
    result = build_notebook(_print_job(obj), obj.project, _out(obj, output, name), notes,
                            style, member_id, booklet, profile=profile)
    echo(word("cli.notebook.done", obj.lang).format(path=result["path"], n=result["pages"],
                                                    mb=f"{result['bytes'] / 1e6:.1f}"))


def _code_lookup(obj: Context):
    from memberportal.core.codes import member_refs, offer_slot
    from memberportal.inputs.secret import load_secret
    project = obj.project
    secret = load_secret(obj.root)
    offer = project.program.retention_offer
    offers = {offer_slot(offer.id): offer.id} if offer else {}
    return project, secret, member_refs(secret, [m.id for m in project.members]), offers


def _say_verdict(project: Project, v, lang: str) -> str:
    from memberportal.render.templates import mask_name
    who = ""
    if v.member_id:
        masked = mask_name(project.member(v.member_id).name)
        who = f"  {masked} ({v.member_id})" if masked else f"  ({v.member_id})"
    until = ("  " + word("cli.valid_until", lang).format(date=v.expires.isoformat())
             if v.expires and v.state == "valid" else "")
    detail = f"  {say(v.detail, lang)}" if v.detail else ""
    state = CATALOGUE[lang].get(f"cli.verdict.{v.state}", v.state.upper())
    return f"{state}  {v.code}{who}{until}{detail}"


@cli.command()
@click.argument("code")
@click.pass_obj
def verify(obj: Context, code: str):
    """Say whether a retention code is valid, mistyped, forged, expired or redeemed."""
    from memberportal.core.codes import verify as check
    project, secret, refs, offers = _code_lookup(obj)
    v = check(secret, code, obj.as_of, refs, project.redeemed, offers.keys())
    echo(_say_verdict(project, v, obj.lang))
    sys.exit(0 if v.ok else 1)


@cli.command()
@click.argument("code")
@click.pass_obj
def redeem(obj: Context, code: str):
    """Record a retention code's redemption in members/redemptions.csv (once only)."""
    from memberportal.inputs.ledger import redeem as record
    project, secret, refs, offers = _code_lookup(obj)
    v = record(obj.root, secret, code, obj.as_of, refs, offers)
    if v.ok:
        echo(word("cli.verdict.redeemed", obj.lang) + "  "
             + _say_verdict(project, v, obj.lang).split("  ", 1)[1])
        sys.exit(0)
    echo(word("cli.verdict.refused", obj.lang) + "  " + _say_verdict(project, v, obj.lang),
         err=True)
    sys.exit(1)


@cli.command()
@click.argument("kind", type=click.Choice(["insert", "card", "notebook"]))
@click.argument("member_id")
@_profile_option
@click.pass_obj
def preview(obj: Context, kind: str, member_id: str, profile: str):
    """Render one insert, card or notebook for a member to output/preview/ (PDF and PNG)."""
    from memberportal.print.preview import preview as make
    for path in make(_print_job(obj), obj.project, kind, member_id, profile=profile):
        echo(str(path))


def main() -> None:
    global _one_command
    _one_command = True
    cli(prog_name="memberportal")


if __name__ == "__main__":
    main()
