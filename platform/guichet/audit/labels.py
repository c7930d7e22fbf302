"""What the audit log's codes mean, as the staff read them: each action's name, and its
details as « name : value » instead of JSON. The codes stay in the log (and in the journal's
filter « Action commençant par »); only their display changes."""

from __future__ import annotations

from typing import Any

from guichet.i18n import N_, format_money
from guichet.i18n import gettext as _

__all__ = ["ACTION_LABELS", "FIELD_LABELS", "action_label", "detail_text"]

ACTION_LABELS = {
    # staff and their accounts
    "staff.login": N_("Connexion à l'espace agents"),
    "staff.logout": N_("Déconnexion de l'espace agents"),
    "staff.second_factor_enrolled": N_("Double authentification activée"),
    "staff.invited": N_("Invitation envoyée"),
    "staff.invitation_accepted": N_("Invitation acceptée"),
    "staff.role_changed": N_("Rôle changé"),
    "staff.enabled": N_("Agent réactivé"),
    "staff.disabled": N_("Agent désactivé"),
    "staff.access_reset": N_("Accès réinitialisé"),
    "staff.password_reset_asked": N_("Mot de passe oublié : lien demandé"),
    "staff.password_reset": N_("Nouveau mot de passe choisi après un oubli"),
    "operator.created": N_("Opérateur créé"),
    "operator.login": N_("Connexion d'un opérateur"),
    "operator.second_factor_enrolled": N_("Double authentification d'un opérateur activée"),
    # the tenant
    "tenant.onboarded": N_("Collectivité créée"),
    "tenant.branding_changed": N_("Apparence modifiée"),
    "tenant.settings_changed": N_("Paramètres modifiés"),
    "tenant.active": N_("Portail ouvert"),
    "tenant.maintenance": N_("Portail mis en maintenance"),
    "tenant.suspended": N_("Portail suspendu"),
    "tenant.exported": N_("Données exportées"),
    "tenant.export_downloaded": N_("Export téléchargé"),
    "tenant.deleted": N_("Collectivité supprimée"),
    "content.welcome_changed": N_("Texte d'accueil modifié"),
    "content.news_added": N_("Actualité ajoutée"),
    "content.news_removed": N_("Actualité retirée"),
    "content.page_changed": N_("Page modifiée"),
    "content.page_reset": N_("Page remise au texte d'origine"),
    "content.terms_published": N_("Nouvelle version des CGU publiée"),
    # services, files and keys
    "service.created": N_("Service créé"),
    "service.changed": N_("Service renommé ou décrit autrement"),
    "service_account.created": N_("Dossier créé"),
    "service_account.changed": N_("Dossier modifié"),
    "service_account.imported": N_("Dossiers importés"),
    "service_account.key_regenerated": N_("Nouvelle clé d'accès"),
    "service_account.key_emailed": N_("Clé d'accès envoyée par courriel"),
    "service_account.keys_emailed": N_("Clés d'accès envoyées par courriel"),
    "service_account.letter_printed": N_("Lettre de clé d'accès imprimée"),
    "service_account.letters_printed": N_("Lettres de clés d'accès imprimées"),
    # citizens, requests, procedures
    "citizen.viewed": N_("Fiche d'un habitant consultée"),
    "citizen.verrouiller": N_("Espace verrouillé"),
    "citizen.deverrouiller": N_("Espace déverrouillé"),
    "citizen.activation": N_("Lien d'activation envoyé de nouveau"),
    "citizen.payment": N_("Paiement en ligne"),
    "request.viewed": N_("Demande consultée"),
    "request.status_changed": N_("État d'une demande changé"),
    "request.message_sent": N_("Message envoyé au demandeur"),
    "request.assigned": N_("Demande attribuée"),
    "procedure.created": N_("Démarche créée"),
    "procedure.changed": N_("Démarche modifiée"),
    "procedure.field_saved": N_("Champ d'une démarche enregistré"),
    "procedure.field_supprimer": N_("Champ d'une démarche retiré"),
    "procedure.field_monter": N_("Champ d'une démarche déplacé"),
    "procedure.field_descendre": N_("Champ d'une démarche déplacé"),
    "procedure.document_added": N_("Pièce demandée ajoutée à une démarche"),
    # billing
    "billing.run_launched": N_("Facturation lancée"),
    "billing.invoice_cancelled": N_("Facture annulée par un avoir"),
    "billing.payment_recorded": N_("Règlement enregistré au guichet"),
    "billing.refund_recorded": N_("Remboursement d'un trop-perçu enregistré"),
    "billing.payments_exported": N_("Paiements exportés"),
    "billing.items_imported": N_("Prestations importées"),
    "billing.invoices_imported": N_("Factures importées"),
    "billing.ledger_created": N_("Régie créée"),
    "billing.ledger_changed": N_("Régie modifiée"),
    "billing.ledger_tested": N_("Connexion à la banque essayée"),
    "api_token.created": N_("Jeton d'API créé"),
    "api_token.revoked": N_("Jeton d'API révoqué"),
}

DETAIL_LABELS = {
    "role": N_("rôle"),
    "fields": N_("champs"),
    "count": N_("nombre"),
    "amount_cents": N_("montant"),
    "method": N_("mode"),
    "reason": N_("motif"),
    "status": N_("état"),
    "backend": N_("banque"),
    "ok": N_("réussi"),
    "options_changed": N_("options changées"),
    "files": N_("fichiers"),
    "to": N_("à"),
    "administrator": N_("administrateur"),
    "again": N_("de nouveau"),
    "rows": N_("lignes"),
    "size": N_("taille"),
    "name": N_("nom"),
    "key": N_("fichier"),
    "version": N_("version"),
    "created": N_("nouvelles"),
    "updated": N_("modifiées"),
    "unchanged": N_("déjà connues"),
}


# The forms' fields a « champs » detail names, as their forms label them (admin/settings.html,
# branding.html, service.html, service_account.html).
FIELD_LABELS = {
    "contact_phone": N_("Téléphone"),
    "contact_email": N_("Courriel"),
    "contact_hours": N_("Horaires"),
    "contact_address": N_("Adresse postale"),
    "main_site_url": N_("Site principal"),
    "locales": N_("Langues proposées"),
    "default_locale": N_("Langue par défaut"),
    "maintenance_message": N_("Message de maintenance"),
    "password_min_length": N_("Mots de passe : longueur minimale"),
    "password_min_lowercase": N_("Mots de passe : minuscules"),
    "password_min_uppercase": N_("Mots de passe : majuscules"),
    "password_min_digits": N_("Mots de passe : chiffres"),
    "password_min_special": N_("Mots de passe : caractères spéciaux"),
    "captcha": N_("Contrôle de sécurité"),
    "status": N_("Maintenance"),
    "name": N_("Nom"),
    "short_name": N_("Nom court (en-tête)"),
    "tagline": N_("Sous-titre"),
    "theme": N_("Thème"),
    "logo": N_("Logo"),
    "logo_alt": N_("Texte de remplacement du logo"),
    "primary_color": N_("Couleur principale"),
    "on_primary_color": N_("Texte sur la couleur principale"),
    "accent_color": N_("Couleur d'accent"),
    "on_accent_color": N_("Texte sur la couleur d'accent"),
    "description": N_("Description"),
    "holder_name": N_("Titulaire"),
    "email": N_("Adresse de courriel"),
    "postal_address": N_("Adresse postale"),
}


def action_label(action: str) -> str:
    """The action's name in the reader's language; the code itself when none is known (a code
    of a later version read by this one)."""
    if action in ACTION_LABELS:
        return _(ACTION_LABELS[action])
    if action.startswith("citizen."):
        from guichet.accounts.space import EVENT_LABELS

        kind = action.removeprefix("citizen.")
        if kind in EVENT_LABELS:
            return _(EVENT_LABELS[kind])
    return action


def _value(name: str, value: Any) -> str:
    if name == "amount_cents" and isinstance(value, int):
        return format_money(value)
    if name == "fields" and isinstance(value, list | tuple):
        return ", ".join(_(FIELD_LABELS[f]) if f in FIELD_LABELS else str(f) for f in value)
    if name == "method" and isinstance(value, str):
        from guichet.admin.billing import METHOD_LABELS

        return _(METHOD_LABELS[value]) if value in METHOD_LABELS else value
    if isinstance(value, bool):
        return _("oui") if value else _("non")
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def detail_text(detail: dict[str, Any] | None) -> str:
    """« montant : 8,53 € ; mode : chèque » for ``{"amount_cents": 853, "method": "cheque"}``."""
    parts = []
    for name, value in (detail or {}).items():
        label = _(DETAIL_LABELS[name]) if name in DETAIL_LABELS else name
        parts.append(f"{label} : {_value(name, value)}")
    return " ; ".join(parts)
