"""Citizen account pages: creation wizard, captcha, activation, login, recovery, identifiers,
personal data. Thin: parse the form, call :class:`AccountService`, render."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from guichet import i18n
from guichet.accounts import forms, geo
from guichet.accounts.captcha import CHOICES, Captcha
from guichet.accounts.models import Citizen, CitizenStatus, TokenPurpose
from guichet.accounts.passwords import check_password, policy_hint, verify_password
from guichet.accounts.photos import PhotoError, store_photo
from guichet.accounts.services import dumps
from guichet.accounts.web import (
    AFTER_LOGIN,
    LIMITS,
    AccountsContext,
    after_login,
    login_ip_limit,
    private_page,
    provide_ctx,
    require_citizen,
    same_time_whatever_happened,
    signup_limit,
)
from guichet.accounts.wizard import STEPS, Wizard
from guichet.files import delete_folder, delete_keys
from guichet.i18n import gettext as _
from guichet.web.pages import render_page

__all__ = ["AccountsController"]

FormData = dict[str, Any]


async def read_form(request: Request[Any, Any, Any]) -> FormData:
    form = await request.form()
    data: FormData = {}
    for key, value in form.multi_items():
        if key.startswith("key:"):
            data.setdefault("keys", {})[key[4:]] = value if isinstance(value, str) else ""
        else:
            data[key] = value
    return data


def _text(data: FormData, name: str, limit: int = 300) -> str:
    value = data.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def personal_words(values: dict[str, Any]) -> list[str]:
    words = [values.get("username", ""), values.get("last_name", ""), values.get("first_names", "")]
    return [w for w in words if w]


class AccountsController(Controller):
    path = "/"
    dependencies = {"ctx": Provide(provide_ctx)}

    # ---------------------------------------------------------------- the wizard -----------
    async def _page(
        self, ctx: AccountsContext, template: str, status_code: int = 200, **context: Any
    ) -> Response[Any]:
        response = render_page(
            ctx.request,
            template,
            status_code=status_code,
            flash=ctx.take_flash(),
            headers={"Cache-Control": "no-store"},
            **context,
        )
        return await ctx.finish(response)

    @get("/", name="portal:home")
    async def portal_home(self, ctx: AccountsContext) -> Response[Any]:
        """The tenant's home page (guide §1); it knows whether someone is signed in."""
        from guichet.portal.services import PortalService

        news = await PortalService(ctx.db, ctx.tenant).latest_news()
        citizen = await ctx.citizen()
        return await self._page(
            ctx, "portal/home.html", news=news, citizen=citizen, signed_in=citizen is not None
        )

    @get("/creer-mon-espace", name="accounts:welcome")
    async def welcome(self, ctx: AccountsContext) -> Response[Any]:
        return await self._page(
            ctx,
            "accounts/wizard_welcome.html",
            steps=STEPS,
            terms_published=await ctx.accounts.current_terms() is not None,
            page_title=_("Création d'un espace personnel"),
        )

    @post("/creer-mon-espace", name="accounts:start")
    async def start(self, ctx: AccountsContext) -> Response[Any]:
        if await ctx.accounts.current_terms() is None:  # nothing to accept yet: no space
            return await ctx.redirect("/creer-mon-espace")
        wizard = Wizard(ctx.session.get("wizard"))
        if not wizard.active:
            ctx.session.set("wizard", Wizard.start())
        return await ctx.redirect("/creer-mon-espace/cgu")

    async def _render_step(
        self,
        ctx: AccountsContext,
        wizard: Wizard,
        slug: str,
        errors: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        status_code: int = 200,
        **extra: Any,
    ) -> Response[Any]:
        step_index = wizard.index(slug)
        context: dict[str, Any] = {
            "steps": STEPS,
            "step": STEPS[step_index],
            "step_index": step_index,
            "values": {**wizard.values, **(values or {})},
            "errors": errors or {},
            "page_title": _("Création d'un espace personnel"),
        }
        if slug == "cgu":
            context["terms"] = await ctx.accounts.current_terms()
        elif slug == "identite":
            context["countries"] = geo.countries(i18n.current_locale())
            context["departements"] = geo.departements()
            context["civilities"] = forms.CIVILITIES
        elif slug == "adresse":
            context["countries"] = geo.countries(i18n.current_locale())
            context["suffixes"] = forms.STREET_SUFFIXES
        elif slug == "authentification":
            context["policy"] = policy_hint(ctx.tenant.password_policy)
            context["services"] = await ctx.accounts.active_services()
            context["captcha"] = None
            if ctx.tenant.feature("captcha"):
                challenge = await ctx.captcha.current_or_new(str(ctx.tenant.id), ctx.session.id)
                context["captcha"] = challenge
                context["captcha_question"] = challenge.question(i18n.current_locale())
                context["captcha_choices"] = range(CHOICES)
        context.update(extra)
        return await self._page(
            ctx,
            f"accounts/wizard_{slug.replace('-', '_')}.html",
            status_code=status_code,
            **context,
        )

    @get("/creer-mon-espace/{slug:str}", name="accounts:step")
    async def step(self, ctx: AccountsContext, slug: FromPath[str]) -> Response[Any]:
        if slug == "termine":
            email = ctx.session.get("wizard_done")
            if not email:
                return await ctx.redirect("/creer-mon-espace")
            return await self._page(
                ctx,
                "accounts/wizard_done.html",
                email=email,
                page_title=_("Création d'un espace personnel"),
            )
        if slug == "abandon":
            return await self._page(
                ctx,
                "accounts/wizard_cancel.html",
                back=ctx.request.query_params.get("etape", "cgu"),
                page_title=_("Création d'un espace personnel"),
            )
        wizard = Wizard(ctx.session.get("wizard"))
        if slug not in [s.slug for s in STEPS]:
            raise NotFoundException()
        if not wizard.active:
            if ctx.session.get("wizard"):
                ctx.session.pop("wizard")
                ctx.flash(
                    _(
                        "Votre saisie a expiré après plusieurs heures sans activité : "
                        "recommencez la création de votre espace."
                    ),
                    "warning",
                )
            return await ctx.redirect("/creer-mon-espace")
        if not wizard.allowed(slug):
            from guichet.accounts.wizard import STEP_SLUGS

            return await ctx.redirect(f"/creer-mon-espace/{STEP_SLUGS[wizard.reached]}")
        return await self._render_step(ctx, wizard, slug)

    @post("/creer-mon-espace/{slug:str}", name="accounts:step_post")
    async def step_post(self, ctx: AccountsContext, slug: FromPath[str]) -> Response[Any]:
        data = await read_form(ctx.request)
        action = _text(data, "action", 30)
        if slug == "abandon":
            if action == "confirm_cancel":
                self._discard(ctx)
                ctx.flash(
                    _(
                        "La création de votre espace a été abandonnée ; les informations "
                        "saisies ont été effacées."
                    )
                )
                return await ctx.redirect("/")
            return await ctx.redirect("/creer-mon-espace")
        wizard = Wizard(ctx.session.get("wizard"))
        if slug not in [s.slug for s in STEPS]:
            raise NotFoundException()
        if not wizard.active or not wizard.allowed(slug):
            return await ctx.redirect("/creer-mon-espace")
        values, errors = await self._clean(ctx, slug, data, wizard)
        if action == "cancel":  # what was typed stays, in case the person goes on after all
            wizard.keep(values)
            ctx.session.changed = True
            return await ctx.redirect(f"/creer-mon-espace/abandon?etape={slug}")
        if action == "previous":
            wizard.keep(values)
            ctx.session.changed = True
            previous = Wizard.previous(slug)
            return await ctx.redirect(
                f"/creer-mon-espace/{previous}" if previous else "/creer-mon-espace"
            )
        if action == "new_captcha" and slug == "authentification":
            wizard.keep(values)
            ctx.session.changed = True
            await ctx.captcha.new(str(ctx.tenant.id), ctx.session.id)
            return await self._render_step(ctx, wizard, slug, values=values)
        if errors:
            wizard.keep(values)
            if wizard.data is not None:  # later steps wait until this one is right again
                wizard.data["reached"] = min(wizard.reached, wizard.index(slug))
            ctx.session.changed = True
            return await self._render_step(
                ctx, wizard, slug, errors=errors, values=values, status_code=400
            )
        wizard.keep(values)
        ctx.session.changed = True
        following = wizard.advance_past(slug)
        if following is not None:
            return await ctx.redirect(f"/creer-mon-espace/{following}")
        return await self._create(ctx, wizard, data)

    def _discard(self, ctx: AccountsContext) -> None:
        wizard = Wizard(ctx.session.get("wizard"))
        photo = wizard.values.get("photo_file") if wizard.data else None
        if photo:
            ctx.request.app.state.services.files.delete(photo)
        ctx.session.pop("wizard", None)

    async def _clean(
        self, ctx: AccountsContext, slug: str, data: FormData, wizard: Wizard
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if slug == "cgu":
            accepted = data.get("accept_terms") == "yes"
            terms = await ctx.accounts.current_terms()
            errors = (
                {
                    "accept_terms": _(
                        "Les conditions générales d'utilisation ne sont pas encore publiées : "
                        "la création d'un espace ouvrira dès leur publication."
                    )
                }
                if terms is None
                else {}
                if accepted
                else {
                    "accept_terms": _(
                        "Vous devez accepter les conditions générales d'utilisation "
                        "pour créer votre espace."
                    )
                }
            )
            return {
                "accept_terms": "yes" if accepted else "",
                "terms_version": terms.version if terms else 0,
            }, errors
        if slug == "identite":
            values, errors = forms.clean_identity(data)
            upload = data.get("photo")
            if data.get("remove_photo") == "yes" and wizard.values.get("photo_file"):
                ctx.request.app.state.services.files.delete(wizard.values["photo_file"])
                values["photo_file"] = ""
            if isinstance(upload, UploadFile) and upload.filename:
                content = await upload.read()
                if content:
                    try:
                        key = await asyncio.to_thread(
                            store_photo,
                            ctx.request.app.state.services.files,
                            ctx.tenant.id,
                            content,
                        )
                    except PhotoError as exc:
                        errors["photo"] = str(exc)
                    else:
                        old = wizard.values.get("photo_file")
                        if old:
                            ctx.request.app.state.services.files.delete(old)
                        values["photo_file"] = key
            return values, errors
        if slug == "adresse":
            return forms.clean_address(data)
        if slug == "contact":
            return forms.clean_contact(data)
        return await self._clean_authentication(ctx, data, wizard)

    async def _clean_authentication(
        self, ctx: AccountsContext, data: FormData, wizard: Wizard
    ) -> tuple[dict[str, Any], dict[str, str]]:
        username = _text(data, "username", 64)
        password = data.get("password", "") if isinstance(data.get("password"), str) else ""
        confirmation = data.get("password_confirmation", "")
        keys = {code: str(value).strip()[:40] for code, value in data.get("keys", {}).items()}
        values: dict[str, Any] = {"username": username, "keys": keys}
        errors: dict[str, str] = {}
        action = _text(data, "action", 30)
        if action in ("previous", "new_captcha", "cancel"):
            return values, errors
        problem = forms.clean_username(username)
        if problem:
            errors["username"] = problem
        elif await ctx.accounts.username_taken(username):
            suggestions = await ctx.accounts.suggest_usernames(
                username, wizard.values.get("first_names", ""), wizard.values.get("last_name", "")
            )
            errors["username"] = _(
                "Ce nom d'utilisateur est déjà pris. Vous pouvez choisir : %(list)s.",
                list=", ".join(suggestions),
            )
            values["username_suggestions"] = suggestions
        if not password:
            errors["password"] = _(
                "Le champ « %(label)s » est obligatoire.", label=_("Mot de passe")
            )
        else:
            problems = check_password(
                password,
                ctx.tenant.password_policy,
                personal_words({**wizard.values, "username": username}),
            )
            if problems:
                errors["password"] = " ".join(problems)
            elif password != confirmation:
                errors["password_confirmation"] = _(
                    "La confirmation ne correspond pas au mot de passe."
                )
        if any(keys.values()):
            wait = await ctx.limiter.retry_after(LIMITS["access_key"], str(ctx.tenant.id), ctx.ip)
            if wait:
                errors["keys"] = _(
                    "Trop de clés d'accès erronées : réessayez dans %(minutes)s "
                    "minute(s), ou laissez la clé vide et ajoutez-la plus tard "
                    "depuis votre espace.",
                    minutes=max(1, wait // 60),
                )
            else:
                _found, key_problems = await ctx.accounts.check_keys(keys)
                for key_problem in key_problems:
                    await ctx.limiter.failure(LIMITS["access_key"], str(ctx.tenant.id), ctx.ip)
                    errors[f"key:{key_problem.service_code}"] = (
                        _(
                            "Cette clé d'accès n'est pas reconnue : vérifiez-la sur le courrier ou "
                            "le courriel du service."
                        )
                        if key_problem.message == "unknown"
                        else _("Cette clé d'accès est déjà associée à un autre espace personnel.")
                    )
        if ctx.tenant.feature("captcha"):
            tid = str(ctx.tenant.id)
            wait = await ctx.limiter.retry_after(LIMITS["captcha"], tid, ctx.ip)
            if wait:
                errors["captcha"] = _(
                    "Trop de réponses erronées au contrôle de sécurité depuis cette connexion : "
                    "réessayez dans %(minutes)s minute(s).",
                    minutes=max(1, wait // 60),
                )
                return values, errors
            outcome = await ctx.captcha.verify(
                tid,
                ctx.session.id,
                _text(data, "captcha_id", 64),
                _text(data, "captcha_choice", 4),
                _text(data, "captcha_audio", 12),
            )
            if outcome != Captcha.OK:
                await ctx.limiter.failure(LIMITS["captcha"], tid, ctx.ip)
            if outcome == Captcha.WRONG:
                errors["captcha"] = _("Mauvaise réponse au contrôle de sécurité : réessayez.")
            elif outcome == Captcha.EXPIRED:
                errors["captcha"] = _(
                    "Le contrôle de sécurité a expiré ou a échoué trop de "
                    "fois : répondez à la nouvelle question."
                )
                await ctx.captcha.new(tid, ctx.session.id)
            elif errors:
                # Solved, but another field is wrong: the next try asks a new question.
                await ctx.captcha.new(tid, ctx.session.id)
        return values, errors

    async def _recheck(self, ctx: AccountsContext, values: dict[str, Any]) -> str | None:
        """The first earlier step whose stored values do not pass its rules any more (or were
        never accepted): VALIDER creates nothing the steps would have refused."""
        terms = await ctx.accounts.current_terms()
        current = terms.version if terms else 0
        if values.get("accept_terms") != "yes" or int(values.get("terms_version") or 0) != current:
            return "cgu"
        checks = (
            ("identite", forms.clean_identity),
            ("adresse", forms.clean_address),
            ("contact", forms.clean_contact),
        )
        for slug, clean in checks:
            if clean(values)[1]:
                return slug
        return None

    async def _create(self, ctx: AccountsContext, wizard: Wizard, data: FormData) -> Response[Any]:
        values = dict(wizard.values)
        stale = await self._recheck(ctx, values)
        if stale is not None:
            assert wizard.data is not None
            wizard.data["reached"] = wizard.index(stale)
            ctx.session.changed = True
            ctx.flash(
                _(
                    "Une étape précédente est incomplète ou a changé : vérifiez-la avant de "
                    "valider."
                ),
                "warning",
            )
            return await ctx.redirect(f"/creer-mon-espace/{stale}")
        limit = signup_limit(ctx.accounts.settings.web.signups_per_ip_per_hour)
        wait = await ctx.limiter.retry_after(limit, str(ctx.tenant.id), ctx.ip)
        if wait:
            return await self._render_step(
                ctx,
                wizard,
                "authentification",
                status_code=429,
                errors={
                    "form": _(
                        "Trop d'espaces ont été créés depuis cette connexion : "
                        "réessayez dans %(minutes)s minute(s).",
                        minutes=max(1, wait // 60),
                    )
                },
            )
        accounts, problems = await ctx.accounts.check_keys(values.get("keys", {}))
        if problems:  # linked by someone else in the meantime
            return await self._render_step(
                ctx,
                wizard,
                "authentification",
                status_code=400,
                errors={
                    f"key:{p.service_code}": _(
                        "Cette clé d'accès est déjà associée à un autre espace personnel."
                    )
                    for p in problems
                },
            )
        # The password comes from this very request and is never kept in the session.
        password = data.get("password", "")
        citizen = await ctx.accounts.create_account(
            values,
            str(password),
            accounts,
            int(values.get("terms_version") or 0),
            i18n.current_locale(),
            ctx.ip,
        )
        await ctx.limiter.hit(limit, str(ctx.tenant.id), ctx.ip)
        await ctx.commit()
        ctx.session.pop("wizard", None)
        ctx.session.set("wizard_done", citizen.email)
        return await ctx.redirect("/creer-mon-espace/termine")

    # ---------------------------------------------------------------- captcha assets --------
    @get("/captcha/{challenge:str}/{index:int}", name="accounts:captcha_image")
    async def captcha_image(
        self, ctx: AccountsContext, challenge: FromPath[str], index: FromPath[int]
    ) -> Response[Any]:
        svg = await ctx.captcha.image(str(ctx.tenant.id), ctx.session.id, challenge, index)
        if svg is None:
            raise NotFoundException()
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    @get("/captcha/{challenge:str}/audio", name="accounts:captcha_audio")
    async def captcha_audio(self, ctx: AccountsContext, challenge: FromPath[str]) -> Response[Any]:
        audio = await ctx.captcha.audio(
            str(ctx.tenant.id), ctx.session.id, challenge, i18n.current_locale()
        )
        if audio is None:
            raise NotFoundException()
        return Response(audio, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    # ---------------------------------------------------------------- activation -------------
    async def _token_page(
        self,
        ctx: AccountsContext,
        token: str,
        purpose: TokenPurpose,
        template: str,
        title: str,
        status_code: int = 200,
    ) -> Response[Any]:
        """The page of an emailed link, saying whether the link is still valid."""
        state = await ctx.accounts.token_state(token, purpose)
        return await self._page(
            ctx, template, state=state, token=token, status_code=status_code, page_title=title
        )

    @get("/activer/{token:str}", name="accounts:activate")
    async def activate_page(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        return await self._token_page(
            ctx,
            token,
            TokenPurpose.ACTIVATION,
            "accounts/activate.html",
            _("Activation de votre espace"),
        )

    @post("/activer/{token:str}", name="accounts:activate_post")
    async def activate(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        citizen = await ctx.accounts.activate(token, ctx.ip)
        if citizen is None:
            return await self._token_page(
                ctx,
                token,
                TokenPurpose.ACTIVATION,
                "accounts/activate.html",
                _("Activation de votre espace"),
                400,
            )
        await ctx.commit()
        ctx.flash(
            _(
                "Votre espace est activé. Vous pouvez maintenant vous connecter avec votre "
                "identifiant et votre mot de passe."
            ),
            "success",
        )
        return await ctx.redirect("/")

    @get("/activation", name="accounts:resend")
    async def resend_page(self, ctx: AccountsContext) -> Response[Any]:
        return await self._page(
            ctx,
            "accounts/resend.html",
            values={},
            errors={},
            page_title=_("Recevoir un nouveau lien d'activation"),
        )

    @post("/activation", name="accounts:resend_post")
    async def resend(self, ctx: AccountsContext) -> Response[Any]:
        data = await read_form(ctx.request)
        login = _text(data, "login", 254)
        if not login:
            return await self._page(
                ctx,
                "accounts/resend.html",
                status_code=400,
                values={"login": login},
                errors={"login": _("Indiquez votre nom d'utilisateur ou votre courriel.")},
                page_title=_("Recevoir un nouveau lien d'activation"),
            )
        started = time.monotonic()
        wait = await ctx.limiter.retry_after(LIMITS["reset"], str(ctx.tenant.id), ctx.ip)
        if not wait:
            await ctx.limiter.hit(LIMITS["reset"], str(ctx.tenant.id), ctx.ip)
            await ctx.accounts.resend_activation(login)
            await ctx.commit()
        await same_time_whatever_happened(started)
        ctx.flash(
            _(
                "Si un espace en attente d'activation correspond, un nouveau lien vient "
                "d'être envoyé par courriel. Il est valable 48 heures."
            ),
            "success",
        )
        return await ctx.redirect("/")

    # ---------------------------------------------------------------- login / logout --------
    @post("/connexion", name="portal:login")
    async def login(self, ctx: AccountsContext) -> Response[Any]:
        data = await read_form(ctx.request)
        username = _text(data, "username", 64)
        password = data.get("password", "") if isinstance(data.get("password"), str) else ""
        if not username or not password:  # said as such, and not counted as an attempt
            missing = (
                _("Saisissez votre mot de passe.")
                if username
                else _("Saisissez votre identifiant.")
                if password
                else _("Saisissez votre identifiant et votre mot de passe.")
            )
            return await self._login_failed(ctx, username, missing)
        tid = str(ctx.tenant.id)
        subject = forms.username_subject(username)
        # Counted before the password is checked: parallel guesses cannot slip through.
        for limit, who in (
            (LIMITS["login_pair"], f"{subject}|{ctx.ip}"),
            (LIMITS["login_account"], subject),
            (login_ip_limit(ctx.accounts.settings.web.logins_per_ip_per_hour), ctx.ip),
        ):
            wait = await ctx.limiter.attempt(limit, tid, who)
            if wait:
                return await self._login_failed(
                    ctx,
                    username,
                    _(
                        "Trop de tentatives de connexion : patientez %(seconds)s seconde(s) "
                        "avant de réessayer.",
                        seconds=wait,
                    ),
                    status_code=429,
                )
        citizen = await ctx.accounts.authenticate(username, password)
        if citizen is None:
            return await self._login_failed(
                ctx, username, _("Identifiant ou mot de passe incorrect.")
            )
        await ctx.limiter.reset(LIMITS["login_pair"], tid, f"{subject}|{ctx.ip}")
        await ctx.limiter.reset(LIMITS["login_account"], tid, subject)
        if citizen.status == CitizenStatus.PENDING:
            return await self._login_failed(
                ctx,
                username,
                _(
                    "Votre espace n'est pas encore activé : cliquez sur le lien du courriel de "
                    "confirmation que vous avez reçu."
                ),
                pending=True,
            )
        if citizen.status == CitizenStatus.LOCKED:
            return await self._login_failed(
                ctx,
                username,
                _(
                    "Votre espace est verrouillé. Contactez %(the_name)s pour le débloquer.",
                    the_name=ctx.tenant.the_name,
                ),
            )
        ctx.accounts.logged_in(citizen, ctx.ip)
        await ctx.commit()
        target = after_login(ctx.session.get(AFTER_LOGIN))  # the page asked for before
        ctx.sign_in(citizen)
        return await ctx.redirect(target)

    async def _login_failed(
        self,
        ctx: AccountsContext,
        username: str,
        message: str,
        status_code: int = 400,
        pending: bool = False,
    ) -> Response[Any]:
        from guichet.portal.services import PortalService

        news = await PortalService(ctx.db, ctx.tenant).latest_news()
        return await self._page(
            ctx,
            "portal/home.html",
            status_code=status_code,
            news=news,
            login_error=message,
            login_username=username,
            login_pending=pending,
        )

    @post("/deconnexion", name="accounts:logout")
    async def logout(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await ctx.citizen()
        if citizen is not None:
            ctx.accounts.record(citizen, "logout", {}, ctx.ip)
            await ctx.commit()
        ctx.manager.clear(ctx.session)
        response = render_page(ctx.request, "accounts/logged_out.html", page_title=_("Déconnexion"))
        return await ctx.finish(response)

    # ---------------------------------------------------------------- recovery --------------
    @get("/mot-de-passe-oublie", name="portal:forgot")
    async def forgot_page(self, ctx: AccountsContext) -> Response[Any]:
        return await self._page(
            ctx,
            "accounts/forgot.html",
            values={},
            errors={},
            page_title=_("J'ai oublié mon mot de passe"),
        )

    @post("/mot-de-passe-oublie", name="accounts:forgot_post")
    async def forgot(self, ctx: AccountsContext) -> Response[Any]:
        data = await read_form(ctx.request)
        login = _text(data, "login", 254)
        if not login:
            return await self._page(
                ctx,
                "accounts/forgot.html",
                status_code=400,
                values={"login": login},
                errors={"login": _("Indiquez votre nom d'utilisateur ou votre courriel.")},
                page_title=_("J'ai oublié mon mot de passe"),
            )
        started = time.monotonic()
        tid = str(ctx.tenant.id)
        if not await ctx.limiter.retry_after(
            LIMITS["reset"], tid, ctx.ip
        ) and not await ctx.limiter.retry_after(
            LIMITS["reset"], tid, forms.username_subject(login)
        ):
            await ctx.limiter.hit(LIMITS["reset"], tid, ctx.ip)
            await ctx.limiter.hit(LIMITS["reset"], tid, forms.username_subject(login))
            await ctx.accounts.request_reset(login)
            await ctx.commit()
        await same_time_whatever_happened(started)
        return await self._page(
            ctx, "accounts/forgot_sent.html", page_title=_("J'ai oublié mon mot de passe")
        )

    @get("/reinitialiser/{token:str}", name="accounts:reset")
    async def reset_page(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        citizen = await ctx.accounts.reset_citizen(token)
        return await self._page(
            ctx,
            "accounts/reset.html",
            valid=citizen is not None,
            token=token,
            errors={},
            policy=policy_hint(ctx.tenant.password_policy),
            page_title=_("Nouveau mot de passe"),
        )

    @post("/reinitialiser/{token:str}", name="accounts:reset_post")
    async def reset(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        data = await read_form(ctx.request)
        citizen = await ctx.accounts.reset_citizen(token)
        if citizen is None:
            return await self._page(
                ctx,
                "accounts/reset.html",
                valid=False,
                token=token,
                errors={},
                status_code=400,
                page_title=_("Nouveau mot de passe"),
            )
        errors = self._new_password_errors(ctx, data, citizen)
        if errors:
            return await self._page(
                ctx,
                "accounts/reset.html",
                valid=True,
                token=token,
                errors=errors,
                status_code=400,
                policy=policy_hint(ctx.tenant.password_policy),
                page_title=_("Nouveau mot de passe"),
            )
        await ctx.accounts.reset_password(token, data["password"], ctx.ip)
        await ctx.commit()
        ctx.flash(
            _("Votre mot de passe a été modifié. Connectez-vous avec le nouveau mot de passe."),
            "success",
        )
        return await ctx.redirect("/")

    def _new_password_errors(
        self, ctx: AccountsContext, data: FormData, citizen: Citizen
    ) -> dict[str, str]:
        password = data.get("password", "") if isinstance(data.get("password"), str) else ""
        errors: dict[str, str] = {}
        if not password:
            errors["password"] = _(
                "Le champ « %(label)s » est obligatoire.", label=_("Nouveau mot de passe")
            )
            return errors
        problems = check_password(
            password,
            ctx.tenant.password_policy,
            [citizen.username, citizen.last_name, citizen.first_names],
        )
        if problems:
            errors["password"] = " ".join(problems)
        elif password != data.get("password_confirmation", ""):
            errors["password_confirmation"] = _(
                "La confirmation ne correspond pas au mot de passe."
            )
        return errors

    # ---------------------------------------------------------------- signed-in pages -------
    async def _signed_in(self, ctx: AccountsContext) -> Citizen | Response[Any]:
        return await require_citizen(ctx)

    async def _private(
        self,
        ctx: AccountsContext,
        template: str,
        citizen: Citizen,
        status_code: int = 200,
        **context: Any,
    ) -> Response[Any]:
        return await private_page(ctx, template, citizen, status_code, **context)

    @get("/cgu-a-accepter", name="accounts:terms")
    async def terms_page(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await ctx.citizen()
        if citizen is None:
            return await ctx.redirect("/")
        terms = await ctx.accounts.current_terms()
        return await self._private(
            ctx,
            "accounts/terms_accept.html",
            citizen,
            terms=terms,
            errors={},
            page_title=_("Conditions générales d'utilisation"),
        )

    @post("/cgu-a-accepter", name="accounts:terms_post")
    async def terms_accept(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await ctx.citizen()
        if citizen is None:
            return await ctx.redirect("/")
        data = await read_form(ctx.request)
        terms = await ctx.accounts.current_terms()
        if data.get("accept_terms") != "yes" or terms is None:
            return await self._private(
                ctx,
                "accounts/terms_accept.html",
                citizen,
                status_code=400,
                terms=terms,
                errors={
                    "accept_terms": _(
                        "Vous devez accepter les nouvelles conditions "
                        "générales d'utilisation pour accéder à votre "
                        "espace."
                    )
                },
                page_title=_("Conditions générales d'utilisation"),
            )
        await ctx.accounts.accept_terms(citizen, terms.version, ctx.ip)
        await ctx.commit()
        return await ctx.redirect("/mon-espace")

    @get("/mon-espace/identifiants", name="accounts:identifiers")
    async def identifiers(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await self._signed_in(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        return await self._private(
            ctx,
            "accounts/identifiers.html",
            citizen,
            errors={},
            values={},
            policy=policy_hint(ctx.tenant.password_policy),
            page_title=_("Modifier mes identifiants"),
        )

    @post("/mon-espace/identifiants", name="accounts:identifiers_post")
    async def identifiers_post(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await self._signed_in(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        data = await read_form(ctx.request)
        which = _text(data, "form", 20)
        errors: dict[str, str] = {}
        values: dict[str, str] = {}
        if which == "username":
            new = _text(data, "username", 64)
            values["username"] = new
            problem = forms.clean_username(new)
            if problem:
                errors["username"] = problem
            elif forms.username_subject(
                new
            ) != citizen.username_key and await ctx.accounts.username_taken(new):
                errors["username"] = _(
                    "Ce nom d'utilisateur est déjà pris. Vous pouvez choisir : %(list)s.",
                    list=", ".join(await ctx.accounts.suggest_usernames(new)),
                )
            if not errors:
                await ctx.accounts.change_username(citizen, new, ctx.ip)
                message = _("Votre nom d'utilisateur est maintenant « %(name)s ».", name=new)
        elif which == "password":
            current = data.get("current_password", "")
            if not verify_password(
                citizen.password_hash, current if isinstance(current, str) else ""
            ):
                errors["current_password"] = _("Le mot de passe actuel est incorrect.")
            else:
                errors = self._new_password_errors(ctx, data, citizen)
            if not errors:
                ctx.accounts.change_password(citizen, data["password"], ctx.ip)
                message = _(
                    "Votre mot de passe a été modifié. Vos autres sessions ont été fermées."
                )
        elif which == "email":
            new_email = _text(data, "email", 254)
            values["email"] = new_email
            current = data.get("email_password", "")
            if not verify_password(
                citizen.password_hash, current if isinstance(current, str) else ""
            ):
                errors["email_password"] = _("Le mot de passe actuel est incorrect.")
            if not forms.valid_email(new_email):
                errors["email"] = _(
                    "Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr"
                )
            elif new_email.lower() == citizen.email.lower():
                errors["email"] = _("C'est déjà l'adresse de votre espace.")
            if not errors:
                await ctx.accounts.request_email_change(citizen, new_email, ctx.ip)
                message = _(
                    "Un courriel de confirmation a été envoyé à %(email)s : cliquez sur "
                    "son lien pour terminer le changement.",
                    email=new_email,
                )
        else:
            raise NotFoundException()
        if errors:
            return await self._private(
                ctx,
                "accounts/identifiers.html",
                citizen,
                status_code=400,
                errors=errors,
                values=values,
                which=which,
                policy=policy_hint(ctx.tenant.password_policy),
                page_title=_("Modifier mes identifiants"),
            )
        await ctx.commit()
        if which == "password":
            ctx.sign_in(citizen)  # this session goes on with the new epoch
        ctx.flash(message, "success")
        return await ctx.redirect("/mon-espace/identifiants")

    @get("/confirmer-courriel/{token:str}", name="accounts:confirm_email")
    async def confirm_email_page(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        return await self._token_page(
            ctx,
            token,
            TokenPurpose.EMAIL_CHANGE,
            "accounts/confirm_email.html",
            _("Confirmer mon nouveau courriel"),
        )

    @post("/confirmer-courriel/{token:str}", name="accounts:confirm_email_post")
    async def confirm_email(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        citizen = await ctx.accounts.confirm_email_change(token, ctx.ip)
        if citizen is None:
            return await self._token_page(
                ctx,
                token,
                TokenPurpose.EMAIL_CHANGE,
                "accounts/confirm_email.html",
                _("Confirmer mon nouveau courriel"),
                400,
            )
        await ctx.commit()
        ctx.flash(_("Votre nouvelle adresse de courriel est enregistrée."), "success")
        return await ctx.redirect("/mon-espace" if ctx.session.citizen_id else "/")

    @get("/mon-espace/cles", name="accounts:keys")
    async def keys_page(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await self._signed_in(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        return await self._private(
            ctx,
            "accounts/keys.html",
            citizen,
            errors={},
            values={},
            services=await ctx.accounts.active_services(),
            linked=await ctx.accounts.linked_accounts(citizen),
            page_title=_("Mes services et clés d'accès"),
        )

    @post("/mon-espace/cles", name="accounts:keys_post")
    async def keys_add(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await self._signed_in(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        data = await read_form(ctx.request)
        keys = {code: str(value).strip()[:40] for code, value in data.get("keys", {}).items()}
        errors: dict[str, str] = {}
        tid = str(ctx.tenant.id)
        if not any(keys.values()):
            errors["keys"] = _("Saisissez la clé d'accès communiquée par le service.")
        elif wait := await ctx.limiter.retry_after(LIMITS["access_key"], tid, ctx.ip):
            errors["keys"] = _(
                "Trop de clés d'accès erronées : réessayez dans %(minutes)s minute(s).",
                minutes=max(1, wait // 60),
            )
        else:
            found, problems = await ctx.accounts.check_keys(keys, citizen.id)
            for problem in problems:
                await ctx.limiter.failure(LIMITS["access_key"], tid, ctx.ip)
                errors[f"key:{problem.service_code}"] = (
                    _(
                        "Cette clé d'accès n'est pas reconnue : vérifiez-la sur le courrier ou le "
                        "courriel du service."
                    )
                    if problem.message == "unknown"
                    else _("Cette clé d'accès est déjà associée à un autre espace personnel.")
                )
            if not errors:
                await ctx.accounts.link_service_accounts(citizen, found, ctx.ip)
                await ctx.commit()
                ctx.flash(_("Le service est maintenant relié à votre espace."), "success")
                return await ctx.redirect("/mon-espace/cles")
        return await self._private(
            ctx,
            "accounts/keys.html",
            citizen,
            status_code=400,
            errors=errors,
            values={"keys": keys},
            services=await ctx.accounts.active_services(),
            linked=await ctx.accounts.linked_accounts(citizen),
            page_title=_("Mes services et clés d'accès"),
        )

    @get("/mon-espace/mes-donnees", name="accounts:data")
    async def data_page(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await self._signed_in(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        return await self._private(
            ctx, "accounts/data.html", citizen, errors={}, page_title=_("Mes données personnelles")
        )

    @get("/mon-espace/mes-donnees/export", name="accounts:export")
    async def export(self, ctx: AccountsContext) -> Response[Any]:
        """A ZIP: mes-donnees.json, the supporting documents and the photo (RGPD access)."""
        citizen = await self._signed_in(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        data = await ctx.accounts.export(citizen)
        files = ctx.request.app.state.services.files
        attachments = [(entry["file"], entry.pop("_key")) for entry in data["documents"]]
        if citizen.photo_file:
            attachments.append(("photo.jpg", citizen.photo_file))

        def build() -> bytes:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("mes-donnees.json", dumps(data))
                for name, key in attachments:
                    archive.writestr(name, files.get(key))
            return buffer.getvalue()

        content = await asyncio.to_thread(build)
        ctx.accounts.record(citizen, "data_exported", {}, ctx.ip)
        await ctx.commit()
        response = Response(
            content,
            media_type="application/zip",
            headers={
                "Content-Disposition": 'attachment; filename="mes-donnees.zip"',
                "Cache-Control": "no-store",
            },
        )
        return await ctx.finish(response)

    @post("/mon-espace/supprimer", name="accounts:delete")
    async def delete(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await self._signed_in(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        data = await read_form(ctx.request)
        errors: dict[str, str] = {}
        password = data.get("password", "")
        if not verify_password(
            citizen.password_hash, password if isinstance(password, str) else ""
        ):
            errors["password"] = _("Le mot de passe est incorrect.")
        if data.get("confirm") != "yes":
            errors["confirm"] = _("Cochez la case pour confirmer la suppression.")
        if errors:
            return await self._private(
                ctx,
                "accounts/data.html",
                citizen,
                status_code=400,
                errors=errors,
                page_title=_("Mes données personnelles"),
            )
        folder = f"tenants/{ctx.tenant.id}/citizens/{citizen.id}/"
        files = await ctx.accounts.delete_account(citizen, ctx.ip)
        await ctx.commit()
        store = ctx.request.app.state.services.files
        # the files its rows named, then any a stop left in the citizen's folder unnamed
        await asyncio.to_thread(delete_keys, store, files)
        await asyncio.to_thread(delete_folder, store, folder)
        ctx.manager.clear(ctx.session)
        response = render_page(
            ctx.request, "accounts/deleted.html", page_title=_("Espace supprimé")
        )
        return await ctx.finish(response)
