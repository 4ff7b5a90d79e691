"""The lean service models a grade reads: botocore's models with every part but the prose."""

import marshal

import botocore.session
from botocore.loaders import Loader

from bootcamp.models import LeanLoader, lean


def _full(service: str) -> dict:
    return Loader().load_service_model(service, "service-2")


def test_a_lean_model_keeps_every_operation_shape_and_member():
    for service in ("ec2", "s3", "iam"):
        full, thin = _full(service), lean(_full(service))
        assert thin["operations"].keys() == full["operations"].keys()
        assert thin["shapes"].keys() == full["shapes"].keys()
        for name, shape in full["shapes"].items():
            assert set(thin["shapes"][name].get("members", {})) == set(shape.get("members", {}))
            assert "documentation" not in thin["shapes"][name]
        assert "documentation" not in str(thin["operations"])


def test_a_member_named_documentation_stays():
    model = {"documentation": "x", "operations": {"Get": {"name": "Get", "documentation": "y"}},
             "shapes": {"S": {"type": "structure", "documentation": "z",
                              "members": {"documentation": {"shape": "T", "documentation": "w"}}}}}
    assert lean(model) == {"operations": {"Get": {"name": "Get"}},
                           "shapes": {"S": {"type": "structure", "members": {"documentation": {"shape": "T"}}}}}


def test_the_lean_loader_makes_its_cache_once_and_clients_work_from_it(tmp_path):
    session = botocore.session.get_session()
    session.register_component("data_loader", LeanLoader(cache=tmp_path))
    client = session.create_client("sts", region_name="us-west-2", aws_access_key_id="a", aws_secret_access_key="b")
    [kept] = tmp_path.glob("sts/*/service-2.marshal")
    assert "GetCallerIdentity" in marshal.loads(kept.read_bytes())["operations"]
    assert client.meta.service_model.operation_model("GetCallerIdentity").output_shape.members.keys() >= {"Account"}
    again = LeanLoader(cache=tmp_path).load_data_with_path(f"sts/{kept.parent.name}/service-2")
    assert again[1] == str(kept)


def test_the_kept_list_of_services_is_botocores_and_a_models_folder_of_the_users_own_still_counts(tmp_path):
    own = tmp_path / "models"
    (own / "bootcamp-own" / "2024-01-01").mkdir(parents=True)
    (own / "bootcamp-own" / "2024-01-01" / "service-2.json").write_text("{}")
    for _ in range(2):  # made, then read back from the cache
        listed = LeanLoader(cache=tmp_path / "cache", extra_search_paths=[str(own)])
        for kind in ("service-2", "endpoint-rule-set-1", "paginators-1"):
            assert listed.list_available_services(kind) == sorted(
                {*Loader().list_available_services(kind), *(["bootcamp-own"] if kind == "service-2" else [])})
    assert (tmp_path / "cache" / "services" / "service-2.marshal").exists()


def test_clients_of_a_sharing_session_share_their_class_and_nothing_else(target):
    """The shared session's clients of one service are of one class, made once; each keeps its own
    credentials and events (a guarded client refuses writes, an unguarded one of its class does not),
    and a session that does not share makes its own classes."""
    import pytest

    from bootcamp import readonly, targets
    from bootcamp.sandbox import control

    session = targets.shared_session()
    made = [session.create_client("iam", region_name="us-east-1", endpoint_url=target.endpoint("iam"),
                                  aws_access_key_id=target.settings.sandbox_account, aws_secret_access_key=control.SECRET)
            for _ in range(2)]
    assert type(made[0]) is type(made[1])
    other = botocore.session.get_session().create_client("iam", region_name="us-east-1", aws_access_key_id="a",
                                                         aws_secret_access_key="b")
    assert type(other) is not type(made[0])
    readonly.guard(made[0])
    with pytest.raises(readonly.ReadOnlyViolation):
        made[0].create_user(UserName="refused")
    made[1].create_user(UserName="made")
    assert [u["UserName"] for u in made[1].list_users()["Users"]] == ["made"]
