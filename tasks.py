"""The user's commands: `invoke --list`. Each namespace is a module in bootcamp/tasks/."""

from invoke import Collection

from bootcamp.tasks import app, classroom, finish, lab, sandbox

namespace = Collection()
namespace.add_collection(Collection.from_module(app))
namespace.add_collection(Collection.from_module(classroom, name="class"))
namespace.add_collection(Collection.from_module(lab))
namespace.add_collection(Collection.from_module(sandbox))
finish(namespace)
