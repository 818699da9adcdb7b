from opensts.service.iam._base import IamBase


class DelegationActions(IamBase):
    pass
