"""The options form from the site policy's launch profiles, and the profile in the spawn request."""

import html.parser

import pytest
from traitlets import TraitError

from ts_sudospawner import MediatorError
from ts_sudospawner.profiles import Profile, profile_from_form, render_profiles_form

TWO = [{"name": "lab", "description": "JupyterLab"}, {"name": "voila", "description": "Voilà dashboards"}]


class Inputs(html.parser.HTMLParser):
    """The radio inputs and label texts of a rendered form."""

    def __init__(self):
        super().__init__()
        self.inputs = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        if tag == "input":
            self.inputs.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def parse(form):
    parser = Inputs()
    parser.feed(form)
    return parser


async def test_form_offers_the_profiles_the_mediator_lists(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner("j.doe")
    form = await spawner.get_options_form()  # JupyterHub's own entry point
    parsed = parse(form)
    assert [(i["type"], i["name"], i["value"]) for i in parsed.inputs] == [("radio", "profile", "lab"), ("radio", "profile", "voila")]
    assert "checked" in parsed.inputs[0] and "checked" not in parsed.inputs[1]
    assert "Voilà dashboards" in "".join(parsed.text)
    # asked through sudo as the user the form is for
    [call] = fake.calls()
    assert call["request"] == {"action": "profiles"}
    assert call["user"] == "j.doe"


async def test_no_form_for_fewer_than_two_profiles(make_spawner, fake):
    fake.scenario(profiles=[{"name": "lab", "description": "JupyterLab"}])
    assert await make_spawner().get_options_form() == ""
    fake.scenario(profiles=[])
    assert await make_spawner().get_options_form() == ""


async def test_profile_form_always_and_never(make_spawner, fake):
    fake.scenario(profiles=[{"name": "lab", "description": "JupyterLab"}])
    form = await make_spawner(profile_form="always").get_options_form()
    assert [i["value"] for i in parse(form).inputs] == ["lab"]
    fake.scenario(profiles=TWO)
    assert await make_spawner(profile_form="never").get_options_form() == ""
    # a fixed profile leaves nothing to choose
    assert await make_spawner(profile="lab").get_options_form() == ""


async def test_admin_options_form_wins(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner(options_form="<input name='x'>")
    assert await spawner.get_options_form() == "<input name='x'>"
    assert fake.calls() == []


async def test_form_without_a_working_mediator_is_empty(make_spawner, fake):
    fake.scenario(mode="refuse", error='unknown action "profiles"')
    spawner = make_spawner()
    assert await spawner.get_options_form() == ""
    assert any("no launch profile form" in w and 'unknown action "profiles"' in w for w in spawner.records.lines("WARNING"))


def test_names_and_descriptions_are_escaped():
    form = render_profiles_form(
        [Profile("a.b-c_1", '<script>alert("x")</script> & more'), Profile("lab", "")], selected="lab"
    )
    assert "<script>" not in form
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in form
    parsed = parse(form)
    assert [i["value"] for i in parsed.inputs] == ["a.b-c_1", "lab"]
    assert "checked" in parsed.inputs[1]  # the previous choice stays selected
    assert render_profiles_form([]) == ""


async def test_an_invalid_profile_answer_is_an_error(make_spawner, fake):
    fake.scenario(profiles=[{"name": "bad name", "description": "x"}])
    with pytest.raises(MediatorError, match="profiles answer has an invalid entry"):
        await make_spawner().list_profiles()


def test_options_from_form(make_spawner):
    spawner = make_spawner()
    assert spawner.run_options_from_form({"profile": ["voila"]}) == {"profile": "voila"}
    assert spawner.options_from_query({"profile": "lab"}) == {"profile": "lab"}
    assert spawner.run_options_from_form({}) == {}
    for bad in (["../etc"], ["a b"], ["x" * 65], [""], ["lab", "voila"]):
        with pytest.raises(ValueError):
            spawner.run_options_from_form({"profile": bad})


IMAGE_FORM = '<select name="image"><option value="scipy">scipy</option><option value="r">r</option></select>'


@pytest.mark.parametrize("factory", ["make_spawner", "make_slurm_spawner"])
def test_an_admins_own_options_form_keeps_jupyterhubs_passthrough(request, factory):
    """c.Spawner.options_form of the admin's own: its fields reach user_options as JupyterHub's
    default makes them (a dict of lists on 3.0-6.x); a profile key is still read strictly."""
    spawner = request.getfixturevalue(factory)(options_form=IMAGE_FORM)
    assert spawner.run_options_from_form({"image": ["r"]}) == {"image": ["r"]}
    assert spawner.options_from_query({"image": "r"}) == {"image": "r"}
    assert spawner.run_options_from_form({"image": ["r"], "profile": ["lab"]}) == {"image": ["r"], "profile": "lab"}
    with pytest.raises(ValueError, match="invalid launch profile name"):
        spawner.run_options_from_form({"image": ["r"], "profile": ["../lab"]})


def test_profile_from_form_accepts_bytes():
    assert profile_from_form({"profile": [b"lab"]}) == {"profile": "lab"}


async def test_chosen_profile_goes_into_the_request(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner()
    spawner.user_options = spawner.run_options_from_form({"profile": ["voila"]})
    await spawner.start()
    [spawn] = fake.requests("spawn")
    assert spawn["profile"] == "voila"
    await spawner.stop(now=True)


async def test_a_profile_the_site_does_not_offer_is_refused(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner()
    spawner.user_options = {"profile": "conda"}  # e.g. through the REST API
    with pytest.raises(MediatorError, match=r"launch profile 'conda' is not one the site policy offers to alice \(lab, voila\)"):
        await spawner.start()
    assert fake.requests("spawn") == []
    spawner.user_options = {"profile": "../lab"}
    with pytest.raises(MediatorError, match="invalid launch profile"):
        await spawner.start()
    assert fake.requests("spawn") == []


async def test_fixed_profile_wins_over_the_users_choice(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner(profile="lab")
    spawner.user_options = {"profile": "voila"}
    await spawner.start()
    assert fake.requests("spawn")[0]["profile"] == "lab"
    assert any("ignoring the chosen profile 'voila'" in w for w in spawner.records.lines("WARNING"))
    await spawner.stop(now=True)


def test_profile_trait_is_validated(make_spawner):
    with pytest.raises(TraitError):
        make_spawner().profile = "no spaces allowed"
