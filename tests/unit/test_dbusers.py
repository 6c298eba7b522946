"""Each environment's database user: derived names and passwords, grant patterns, definers."""

from __future__ import annotations

import pytest

from pullrekun.adapters.env_users import EnvUser
from pullrekun.adapters.schema_clone import repoint
from pullrekun.core.dbusers import env_password, env_user, grant_pattern


def test_the_user_name_is_short_stable_and_differs_per_schema() -> None:
    name = env_user("stage_i_0123456789abcdef0")
    assert name == env_user("stage_i_0123456789abcdef0")
    assert name.startswith("pr_")
    assert len(name) == 19  # MySQL allows 32
    assert env_user("stage_a") != env_user("stage_b")
    assert env_user("x" * 64) != env_user("x" * 63)


def test_the_password_depends_on_the_secret_and_the_schema_and_reveals_neither() -> None:
    one = env_password("secret-1", "stage_a")
    assert one == env_password("secret-1", "stage_a")
    assert one != env_password("secret-2", "stage_a")
    assert one != env_password("secret-1", "stage_b")
    assert len(one) == 32
    assert "secret" not in one
    assert "stage" not in one


@pytest.mark.parametrize(("secret", "schema"), [("", "stage_a"), ("s", "")])
def test_a_password_needs_a_secret_and_a_schema(secret: str, schema: str) -> None:
    with pytest.raises(ValueError, match=r"secret|schema"):
        env_password(secret, schema)


def test_the_grant_pattern_escapes_mysql_wildcards() -> None:
    assert grant_pattern("stage_1") == "stage\\_1"
    assert grant_pattern("a%b") == "a\\%b"
    assert grant_pattern("a\\b") == "a\\\\b"


def test_cloned_objects_get_the_environments_user_as_definer() -> None:
    user = EnvUser("pr_0123456789abcdef", "%", "pw")
    trigger = (
        "CREATE DEFINER=`root`@`localhost` TRIGGER dev_a.up BEFORE INSERT ON dev_a.notes "
        "FOR EACH ROW SET NEW.body = UPPER(NEW.body)"
    )
    assert repoint(trigger, "dev_a", "stage_1", user.definer) == (
        "CREATE DEFINER=`pr_0123456789abcdef`@`%` TRIGGER `stage_1`.up BEFORE INSERT ON `stage_1`.notes "
        "FOR EACH ROW SET NEW.body = UPPER(NEW.body)"
    )
    view = (
        "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW `v` "
        "AS select `dev_a`.`t`.`x`"
    )
    assert repoint(view, "dev_a", "stage_1", user.definer) == (
        "CREATE ALGORITHM=UNDEFINED DEFINER=`pr_0123456789abcdef`@`%` SQL SECURITY DEFINER VIEW `v` "
        "AS select `stage_1`.`t`.`x`"
    )
    bare = "CREATE PROCEDURE `p`() SELECT 1 FROM my_dev_a.t"
    assert repoint(bare, "dev_a", "stage_1", user.definer) == (
        "CREATE DEFINER=`pr_0123456789abcdef`@`%` PROCEDURE `p`() SELECT 1 FROM my_dev_a.t"
    ), "only whole names are repointed"
    assert repoint(trigger, "dev_a", "stage_1").startswith("CREATE TRIGGER"), "no user: no definer"
